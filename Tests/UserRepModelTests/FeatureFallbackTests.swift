// An empty horizon takes the next longer horizon's means and device mix (a group's `fallback`),
// checked value by value against aggregates built by hand.
import Foundation
import Testing

@testable import UserRepModel

@Suite struct FeatureFallbackTests {
    static let dims = ModelManifest.EmbeddingDims(audio: 2, collaborative: 1)
    static let devices = DeviceClass.all.count

    /// The context layout `model init` writes, at these small dimensions.
    static func manifest() -> ModelManifest {
        ModelFactory.random(
            batchID: "b", embeddingBatchID: "e", dims: dims, hidden: [4], outputSize: 2, context: (["SE"], ["en"])
        ).manifest
    }

    /// An aggregate of listens, each given as (audio, collaborative, device).
    static func aggregate(_ listens: [([Float], Float, DeviceClass)]) -> HorizonAggregate {
        var a = HorizonAggregate(width: dims.audio + dims.collaborative + devices)
        for (audio, collaborative, device) in listens {
            var tile = audio + [collaborative] + [Float](repeating: 0, count: devices)
            tile[dims.audio + dims.collaborative + device.rawValue] = 1
            tile.withUnsafeBufferPointer { a.add(count: 1, tile: $0.baseAddress!) }
        }
        return a
    }

    /// The input row of a user with these per-horizon listens (1w, 1m, 6m), at one compute time.
    static func row(_ layout: FeatureLayout, _ byHorizon: [[([Float], Float, DeviceClass)]]) -> [Float] {
        var row = [Float](repeating: .nan, count: layout.inputSize)
        row.withUnsafeMutableBufferPointer { r in
            layout.fill(row: r, aggregates: byHorizon.map(aggregate), context: UserContext(), computeTimeMs: 1_780_000_000_000)
        }
        return row
    }

    static func group(_ layout: FeatureLayout, _ name: String, _ row: [Float]) throws -> [Float] {
        let g = try #require(layout.groups.first { $0.name == name }, "no group \(name)")
        return Array(row[g.offset..<(g.offset + g.size)])
    }

    @Test func theLayoutsModelInitWritesFallBackFromWeekToMonthToHalfYear() {
        let m = Self.manifest()
        let fallbacks = Dictionary(uniqueKeysWithValues: m.features.map { ($0.name, $0.fallback) })
        for kind in ["audio_mean", "collaborative_mean", "device_mix"] {
            #expect(fallbacks["\(kind)_1w"] == "\(kind)_1m")
            #expect(fallbacks["\(kind)_1m"] == "\(kind)_6m")
            #expect(fallbacks["\(kind)_6m"] == .some(nil))
        }
        #expect(m.features.filter { $0.fallback != nil }.count == 6, "nothing else falls back")
    }

    @Test func anEmptyHorizonTakesTheNearestLongerHorizonWithListens() throws {
        let layout = try FeatureLayout(manifest: Self.manifest())
        let month: [([Float], Float, DeviceClass)] = [([1, 2], 3, .mobile), ([3, 4], 5, .tv)]
        let older: [([Float], Float, DeviceClass)] = [([10, 10], 10, .car)]
        // Week empty; month has two listens; the half year has those and one older.
        let a = Self.row(layout, [[], month, month + older])
        #expect(try Self.group(layout, "audio_mean_1w", a) == [2, 3])
        #expect(try Self.group(layout, "collaborative_mean_1w", a) == [4])
        #expect(try Self.group(layout, "audio_mean_1m", a) == [2, 3])
        let halfYear = try Self.group(layout, "audio_mean_6m", a)
        #expect(zip(halfYear, [14.0 / 3, 16.0 / 3]).allSatisfy { abs(Double($0) - $1) < 1e-6 }, "\(halfYear)")
        var mix = [Float](repeating: 0, count: Self.devices)
        mix[DeviceClass.mobile.rawValue] = 0.5
        mix[DeviceClass.tv.rawValue] = 0.5
        #expect(try Self.group(layout, "device_mix_1w", a) == mix)
        #expect(try Self.group(layout, "play_count_log1p_1w", a) == [0], "the play count is the horizon's own")

        // Week and month empty: both take the half year.
        let b = Self.row(layout, [[], [], older])
        #expect(try Self.group(layout, "audio_mean_1w", b) == [10, 10])
        #expect(try Self.group(layout, "audio_mean_1m", b) == [10, 10])
        #expect(try Self.group(layout, "collaborative_mean_1m", b) == [10])

        // Nothing anywhere: the constant imputation, as before.
        let c = Self.row(layout, [[], [], []])
        let g = try #require(layout.groups.first { $0.name == "device_mix_1w" })
        #expect(try Self.group(layout, "audio_mean_1w", c) == [0, 0])
        #expect(try Self.group(layout, "device_mix_1w", c) == g.imputation)
        #expect(c.allSatisfy { $0.isFinite }, "every input is written")
    }

    @Test func aManifestWithoutFallbacksImputesAsBefore() throws {
        var m = Self.manifest()
        for i in m.features.indices { m.features[i].fallback = nil }
        let layout = try FeatureLayout(manifest: m)
        let r = Self.row(layout, [[], [([1, 2], 3, .mobile)], [([1, 2], 3, .mobile)]])
        #expect(try Self.group(layout, "audio_mean_1w", r) == [0, 0])
        #expect(try Self.group(layout, "audio_mean_1m", r) == [1, 2])
    }

    @Test func aGroupThatTookItsFallbackIsFlaggedAsImputed() throws {
        var m = Self.manifest()
        let i = try #require(m.features.firstIndex { $0.kind == .imputedIndicators })
        m.features[i].covers = (m.features[i].covers ?? []) + ["audio_mean_1w"]
        m.features[i].size += 1
        m.layers[0] += 1
        let layout = try FeatureLayout(manifest: m)
        let slot = m.features[i].offset + m.features[i].size - 1
        let listen: [([Float], Float, DeviceClass)] = [([1, 2], 3, .mobile)]
        #expect(Self.row(layout, [[], listen, listen])[slot] == 1)
        #expect(Self.row(layout, [listen, listen, listen])[slot] == 0)
        #expect(Self.row(layout, [[], [], []])[slot] == 1)
    }

    @Test func badFallbacksAreRefusedByName() {
        func message(_ change: (inout ModelManifest) -> Void) -> String {
            var m = Self.manifest()
            change(&m)
            do { _ = try FeatureLayout(manifest: m); return "accepted" } catch { return "\(error)" }
        }
        func set(_ name: String, _ fallback: String?) -> (inout ModelManifest) -> Void {
            { m in
                if let i = m.features.firstIndex(where: { $0.name == name }) { m.features[i].fallback = fallback }
            }
        }
        #expect(message { _ in } == "accepted")
        #expect(message(set("audio_mean_1w", "audio_mean_2y")).contains("'audio_mean_1w' falls back to 'audio_mean_2y', which is not in the layout"))
        #expect(message(set("audio_mean_1w", "collaborative_mean_1m")).contains("of another kind (collaborative_mean)"))
        #expect(message(set("audio_mean_6m", "audio_mean_1w")).contains("its fallbacks form a cycle"))
        #expect(message(set("audio_mean_1w", "audio_mean_1w")).contains("its fallbacks form a cycle"))
        #expect(message(set("country", "country")).contains("'country' (country) has a fallback, which only"))
    }
}
