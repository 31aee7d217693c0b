// The fixed device vocabulary behind the device-mix features.

/// Device classes counted per listen. The set is fixed (state stores one count per class), so a
/// model's device-mix group always has `DeviceClass.all.count` inputs.
public enum DeviceClass: Int, Sendable, CaseIterable {
    /// Phones.
    case mobile
    /// Desktop apps.
    case desktop
    /// Tablets.
    case tablet
    /// Smart speakers.
    case speaker
    /// TVs and consoles.
    case tv
    /// Cars.
    case car
    /// Web players.
    case web
    /// Anything else that names a device.
    case other

    /// All classes in slot order.
    public static let all = DeviceClass.allCases

    /// The class of a listen's `device` field (case-insensitive); unknown names are `other`.
    public init(name: [UInt8]) {
        switch String(decoding: name, as: UTF8.self).lowercased() {
        case "mobile", "phone", "smartphone": self = .mobile
        case "desktop", "computer": self = .desktop
        case "tablet": self = .tablet
        case "speaker", "smart_speaker": self = .speaker
        case "tv", "console": self = .tv
        case "car", "automotive": self = .car
        case "web", "browser": self = .web
        default: self = .other
        }
    }
}
