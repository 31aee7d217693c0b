// Cold start (paper 5.2, Table 2): what new users play in their first hours, from their vector at sign-up.
import Foundation
import UserRepModel
import UserRepState

extension Evaluation {
    /// Users who sign up after the split, their plays in the `coldStartMs` after sign-up predicted
    /// from the vector the worker computes on their onboarding event; completed and skipped
    /// onboarding scored apart. Nil reason-only table when no user qualifies.
    static func coldStartTable(
        _ inputs: Inputs, timeline: ListenTimeline, logPopularity overall: [Float], options: Options, progress: (String) -> Void
    ) throws -> EvaluationReport.ColdStart {
        var signup: [[UInt8]: Int64] = [:]
        for e in inputs.onboarding { signup[e.userID] = min(signup[e.userID] ?? e.timestampMs, e.timestampMs) }
        let end = inputs.listens.map(\.timestampMs).max() ?? Int64.min
        let users = signup.filter { $0.value > options.splitMs && $0.value <= end - options.coldStartMs }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        guard !users.isEmpty else {
            return .init(
                reason: "no user signs up after the split with \(options.coldStartMs / 3_600_000) hours of listens to follow", rows: [])
        }
        progress("cold start: \(users.count) users' states at sign-up")
        let states = signupStates(users, inputs: inputs)
        let layout = inputs.layout
        var rows = [Float](repeating: 0, count: users.count * layout.inputSize)
        var aggregates = layout.horizons.map { _ in HorizonAggregate(width: layout.listenWidth) }
        rows.withUnsafeMutableBufferPointer { x in
            for (i, state) in states.enumerated() {
                RepresentationBatchEncoder.fillFeatures(
                    of: state, at: users[i].value, layout: layout, tracks: inputs.tracks, aggregates: &aggregates,
                    into: UnsafeMutableBufferPointer(rebasing: x[(i * layout.inputSize)..<((i + 1) * layout.inputSize)]))
            }
        }
        var representations = inputs.models.map { Representation.encoded(by: $0, rows: rows, count: users.count) }
        if let picks = rows.withUnsafeBufferPointer({ Representation.pickedArtists(rows: $0, count: users.count, layout: layout) }) {
            representations.append(picks)
        }

        let positives = users.map { timeline.played(by: $0.key, after: $0.value - 1, upTo: $0.value + options.coldStartMs) }
        // Popularity within the country, from the exported users' listens before the split.
        var countryOf: [[UInt8]: [UInt8]] = [:]
        for u in inputs.users { if let c = u.country { countryOf[u.id] = c } }
        let counted = timeline.popularity(tracks: inputs.catalogue.count, upTo: options.splitMs) { countryOf[$0] }
        var byCountry: [[UInt8]: [Float]] = [:]
        for c in Set(countryOf.values) {
            byCountry[c] = (counted[c] ?? [Int](repeating: 0, count: inputs.catalogue.count)).map { Float(log1p(Double($0))) }
        }
        let completed = states.map { !$0.profile.artists.isEmpty }
        let country = Representation(name: countryPopularity, vectors: [], width: 0)
        // Per representation (then country popularity): scores of completed and skipped users per repeat.
        var scores = [(completed: [PredictionTask.Score], skipped: [PredictionTask.Score])](
            repeating: ([], []), count: representations.count + 1)
        var split = (train: 0, test: 0)
        for (repeat_, seed) in options.seeds.enumerated() {
            progress("cold start: split \(repeat_ + 1) of \(options.repeats)")
            let task = PredictionTask(
                positives: positives, catalogue: inputs.catalogue.count, maxPositives: options.maxPositives,
                testFraction: options.testFraction, seed: seed ^ 0xC01D)
            if repeat_ == 0 { split = (task.trainUsers, task.testUsers) }
            let classifier = options.classifier(seed: seed)
            // One classifier per representation, scored on completed and on skipped users apart.
            let groups: [(Int) -> Bool] = [{ completed[$0] }, { !completed[$0] }]
            for (i, r) in representations.enumerated() {
                let s = task.score(users: r, itemWidth: inputs.catalogue.width, options: classifier, groups: groups) { _, t in
                    inputs.catalogue.embedding(t)
                }
                scores[i].completed.append(s[0])
                scores[i].skipped.append(s[1])
            }
            let s = task.score(users: country, itemWidth: 1, options: classifier, groups: groups) { row, t in
                [(states[row].profile.country.flatMap { byCountry[$0] } ?? overall)[t]]
            }
            scores[representations.count].completed.append(s[0])
            scores[representations.count].skipped.append(s[1])
        }
        let table = zip(representations.map(\.name) + [countryPopularity], scores).map {
            EvaluationReport.ColdStartRow(representation: $0, completed: .init($1.completed), skipped: .init($1.skipped))
        }
        return .init(
            reason: nil, rows: table, trainUsers: split.train, testUsers: split.test,
            completedUsers: completed.filter { $0 }.count, skippedUsers: completed.filter { !$0 }.count)
    }

    /// Each user's state right after sign-up: their onboarding events and listens up to it,
    /// applied in event-time order by the worker's own rules.
    static func signupStates(_ users: [(key: [UInt8], value: Int64)], inputs: Inputs) -> [UserState] {
        let at = Dictionary(uniqueKeysWithValues: users.map { ($0.key, $0.value) })
        var events: [[UInt8]: [(time: Int64, order: Int, event: PendingUpdates.Event)]] = [:]
        for e in inputs.onboarding where (at[e.userID].map { e.timestampMs <= $0 } ?? false) {
            events[e.userID, default: []].append((e.timestampMs, 0, .onboarding(e)))
        }
        for l in inputs.listens where (at[l.userID].map { l.timestampMs <= $0 } ?? false) {
            guard let slot = inputs.tracks.slot(of: l.trackID) else { continue }
            let event = PendingUpdates.Event.listen(
                timeMs: l.timestampMs, track: slot, device: l.device.map(DeviceClass.init(name:)), country: l.country)
            events[l.userID, default: []].append((l.timestampMs, 1, event))
        }
        var vector = [Float](repeating: 0, count: inputs.layout.listenWidth)
        return users.map { user in
            var state = UserState(width: inputs.layout.listenWidth)
            let ordered = (events[user.key] ?? []).sorted { ($0.time, $0.order) < ($1.time, $1.order) }
            for e in ordered { StateApplier.apply(e.event, to: &state, tracks: inputs.tracks, vector: &vector) }
            return state
        }
    }
}
