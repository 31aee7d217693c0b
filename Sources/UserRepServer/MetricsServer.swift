// The worker's HTTP endpoints on SwiftNIO: Prometheus /metrics, and /healthz and /readyz for probes.
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import UserRepPipeline

/// Serves `GET /metrics` (the registry in Prometheus' text format), `GET /healthz` (200 while the
/// worker's loop comes round, 503 when it is stuck) and `GET /readyz` (200 while it can reach
/// Kafka and is reading, 503 otherwise) on one event-loop thread.
public final class MetricsServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// The port bound (the one asked for, or the one the system chose for 0).
    public let port: Int

    /// Binds `host:port` (port 0: any free port) and starts serving.
    public init(host: String, port: Int, registry: PrometheusCollectorRegistry, status: WorkerStatus) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            channel = try ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(EndpointHandler(registry: registry, status: status))
                    }
                }
                .bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
        self.port = channel.localAddress?.port ?? port
    }

    /// Stops serving and releases the thread.
    public func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Answers one endpoint per request.
private final class EndpointHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let status: WorkerStatus
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, status: WorkerStatus) {
        self.registry = registry
        self.status = status
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request): head = request
        case .body: break
        case .end:
            guard let request = head else { return }
            head = nil
            let (code, type, body) = answer(request)
            var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", String(body.count))])
            if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: code, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            let keepAlive = request.isKeepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        guard request.method == .GET else { return (.methodNotAllowed, "text/plain", Array("GET only\n".utf8)) }
        switch request.uri.split(separator: "?").first.map(String.init) ?? request.uri {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
        case "/healthz":
            return status.isLive
                ? (.ok, "text/plain", Array("ok\n".utf8)) : (.serviceUnavailable, "text/plain", Array("worker loop stuck\n".utf8))
        case "/readyz":
            return status.isReady
                ? (.ok, "text/plain", Array("ready\n".utf8)) : (.serviceUnavailable, "text/plain", Array("not ready\n".utf8))
        default:
            return (.notFound, "text/plain", Array("endpoints: /metrics /healthz /readyz\n".utf8))
        }
    }
}
