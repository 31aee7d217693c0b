// The track table outside a running worker: read from its compacted topic, or from a track file.
import Foundation
import Logging
import UserRepKafka
import UserRepModel

/// Where offline commands (`features export`) get the track table the worker would have.
public enum TrackTableSource {
    /// Reads the track topic to its end as the worker does (same reader, same rules).
    public static func kafka(_ kafka: KafkaConfiguration, topic: String, manifest: ModelManifest, logger: Logger) throws -> TrackTable {
        let reader = try TrackTableReader(
            kafka: kafka, topic: topic, batchID: manifest.embeddingBatchId, dims: manifest.embeddingDims, logger: logger)
        _ = try reader.catchUp(shouldStop: { false })
        try reader.requireFitsModel()
        return reader.table
    }

    /// Reads a JSON-lines or binary track file (`userrep tracks import`'s input); records of other
    /// embedding batches are skipped, later records of a track win.
    public static func file(_ url: URL, manifest: ModelManifest) throws -> TrackTable {
        try table(TrackFile.read(try Data(contentsOf: url), dims: manifest.embeddingDims), from: url, manifest: manifest)
    }

    /// The table of records already read from the track file `url` (same rules as `file`).
    public static func table(_ records: [TrackRecord], from url: URL, manifest: ModelManifest) throws -> TrackTable {
        var table = TrackTable(batchID: manifest.embeddingBatchId, dims: manifest.embeddingDims)
        for r in records where r.batchID == manifest.embeddingBatchId {
            table.upsert(trackID: r.trackID, artistID: r.artistID, embedding: r.audio + r.collaborative)
        }
        guard table.count > 0 else {
            throw WorkerError("\(url.path) holds no track of the model's embedding batch '\(manifest.embeddingBatchId)'")
        }
        return table
    }
}
