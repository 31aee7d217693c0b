// An empty horizon takes the next longer horizon's means and device mix (a group's `fallback`), and
// a sparse one leans on it by `priorListens`, checked value by value against aggregates built by hand.
import Foundation
import Testing

@testable import UserRepModel

@Suite struct FeatureFallbackTests {
    static let dims = ModelManifest.EmbeddingDims(audio: 2, collaborative: 1)
    static let devices = DeviceClass.all.count

    /// The context layout `model init` writes, at these small dimensions; `priorListens` 0 takes a
    /// horizon's own mean whenever it has listens.
    static func manifest(priorListens: Float = 0) -> ModelManifest {
        ModelFactory.random(
            batchID: "b", embeddingBatchID: "e", dims: dims, hidden: [4], outputSize: 2, context: (["SE"], ["en"]), priorListens: priorListens
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

    @Test func aSparseHorizonLeansOnTheLongerOneByThePriorListens() throws {
        let m = Self.manifest(priorListens: 2)
        #expect(m.features.filter { $0.priorListens == 2 }.map(\.name).sorted() == m.features.filter { $0.fallback != nil }.map(\.name).sorted())
        let layout = try FeatureLayout(manifest: m)
        let week: [([Float], Float, DeviceClass)] = [([4, 0], 8, .mobile)]
        let month = week + [([0, 4], 0, .mobile), ([2, 2], 4, .tv)]
        let half = month + [([3, 3], 3, .car)]
        let r = Self.row(layout, [week, month, half])
        // By hand, k = 2. 6m: its own mean (longest). 1m: (sum 1m + 2 · 6m) / (3 + 2). 1w: (sum 1w + 2 · 1m) / (1 + 2).
        let m6: [Double] = [9.0 / 4, 9.0 / 4]
        let m1 = [(6 + 2 * m6[0]) / 5, (6 + 2 * m6[1]) / 5]
        let w1 = [(4 + 2 * m1[0]) / 3, (0 + 2 * m1[1]) / 3]
        func close(_ a: [Float], _ b: [Double]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) < 1e-5 } }
        #expect(close(try Self.group(layout, "audio_mean_6m", r), m6))
        #expect(close(try Self.group(layout, "audio_mean_1m", r), m1))
        let week1 = try Self.group(layout, "audio_mean_1w", r)
        #expect(close(week1, w1), "\(week1) vs \(w1)")
        // The device mix the same way: 6m mobile 2/4, tv 1/4, car 1/4; 1m (2 mobile + 1 tv + 2 · 6m) / 5.
        let dm1 = try Self.group(layout, "device_mix_1m", r)
        #expect(abs(dm1[DeviceClass.mobile.rawValue] - (2 + 2 * 0.5) / 5) < 1e-6)
        #expect(abs(dm1[DeviceClass.car.rawValue] - (2 * 0.25) / 5) < 1e-6)
        #expect(abs(dm1.reduce(0, +) - 1) < 1e-6, "a mix still sums to one")
        // An empty week takes the (blended) month whole, as with no prior.
        let e = Self.row(layout, [[], month, half])
        #expect(close(try Self.group(layout, "audio_mean_1w", e), m1))
        // The week skips an empty month and leans on the half year.
        let s = Self.row(layout, [week, [], half.filter { $0.2 == .car }])
        #expect(close(try Self.group(layout, "audio_mean_1w", s), [(4 + 2 * 3.0) / 3, (0 + 2 * 3.0) / 3]))
        #expect(r.allSatisfy { $0.isFinite } && e.allSatisfy { $0.isFinite } && s.allSatisfy { $0.isFinite })
        // Many listens of its own leave a window nearly itself.
        let busy = Self.row(layout, [Array(repeating: week[0], count: 2000), month, half])
        #expect(abs(try Self.group(layout, "audio_mean_1w", busy)[0] - 4) < 0.01)
    }

    @Test func badPriorsAreRefusedByName() {
        func message(_ name: String, _ k: Float) -> String {
            var m = Self.manifest()
            if let i = m.features.firstIndex(where: { $0.name == name }) { m.features[i].priorListens = k }
            do { _ = try FeatureLayout(manifest: m); return "accepted" } catch { return "\(error)" }
        }
        #expect(message("audio_mean_1w", 5) == "accepted")
        #expect(message("audio_mean_6m", 0) == "accepted")
        #expect(message("audio_mean_1w", -1).contains("'audio_mean_1w' has prior_listens -1.0; it must be a finite number ≥ 0"))
        #expect(message("audio_mean_1w", .nan).contains("must be a finite number"))
        #expect(message("audio_mean_6m", 5).contains("'audio_mean_6m' has prior_listens 5.0 but no fallback"))
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
