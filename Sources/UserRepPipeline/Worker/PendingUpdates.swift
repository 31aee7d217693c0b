// One poll cycle's valid events, grouped by user (pure; no I/O).
import UserRepModel
import UserRepState

/// Events of one cycle grouped by user, in arrival order per user, so each user's state is
/// loaded, updated and encoded once per cycle however many of their events arrived.
struct PendingUpdates: Sendable {
    /// One valid event of the cycle.
    enum Event: Sendable {
        /// A listen: event time, track slot, device class (if given), country (if given).
        case listen(timeMs: Int64, track: Int32, device: DeviceClass?, country: [UInt8]?)
        /// An onboarding event.
        case onboarding(OnboardingEvent)

        /// The event's time (ms since the epoch).
        var timeMs: Int64 {
            switch self {
            case .listen(let timeMs, _, _, _): timeMs
            case .onboarding(let event): event.timestampMs
            }
        }
    }

    /// Distinct users, in first-seen order.
    private(set) var users: [UserKey] = []
    /// Whether each user had an onboarding event this cycle (their output's trigger).
    private(set) var onboarded: [Bool] = []
    private var slots: [UserKey: Int] = [:]
    /// Events with their source position (input topic lane, offset), in arrival order.
    private var events: [(event: Event, lane: InputLane, offset: Int64)] = []
    /// Per user: their first and last event (indices into `events`).
    private var firstEvent: [Int] = []
    private var lastEvent: [Int] = []
    /// Per event: the same user's next event, -1 after their last.
    private var nextEvent: [Int] = []
    /// The artists the cycle's onboarding events picked (repeats included).
    private(set) var onboardingArtists: [[UInt8]] = []

    mutating func add(user: UserKey, _ event: Event, lane: InputLane, offset: Int64) {
        let index = events.count
        let slot: Int
        if let s = slots[user] {
            slot = s
            nextEvent[lastEvent[s]] = index
            lastEvent[s] = index
        } else {
            slot = users.count
            slots[user] = slot
            users.append(user)
            onboarded.append(false)
            firstEvent.append(index)
            lastEvent.append(index)
        }
        if case .onboarding(let e) = event {
            onboarded[slot] = true
            onboardingArtists.append(contentsOf: e.artistIDs)
        }
        events.append((event, lane, offset))
        nextEvent.append(-1)
    }

    /// Calls `body` with each event of the user in slot `user`, in arrival order.
    func forEachEvent(ofUser user: Int, _ body: (_ event: Event, _ lane: InputLane, _ offset: Int64) -> Void) {
        var i = firstEvent[user]
        while i >= 0 {
            let e = events[i]
            body(e.event, e.lane, e.offset)
            i = nextEvent[i]
        }
    }

    var isEmpty: Bool { events.isEmpty }

    mutating func reset() {
        users.removeAll(keepingCapacity: true)
        onboarded.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
        firstEvent.removeAll(keepingCapacity: true)
        lastEvent.removeAll(keepingCapacity: true)
        nextEvent.removeAll(keepingCapacity: true)
        onboardingArtists.removeAll(keepingCapacity: true)
    }
}
