import EASTCore
import EASTTransport
import Testing

@Suite struct EnvelopeTests {
    struct Job: Codable, Equatable, Sendable {
        var questionID: String
        var n: Int
    }

    @Test func roundTrips() throws {
        let message = Envelope(type: "sample_job", run: "r1", body: Job(questionID: "q7", n: 8))
        let decoded = try Envelope<Job>(bytes: message.bytes, expecting: "sample_job")
        #expect(decoded.body == message.body)
        #expect(decoded.run == "r1")
        #expect(try Envelope<Job>.header(message.bytes) == ("sample_job", "r1"))
    }

    @Test(arguments: [
        ("not json", "not JSON"),
        (#"{"type":"x","run":"r","body":{}}"#, "field \"schema\" is missing"),
        (#"{"schema":2,"type":"x","run":"r","body":{}}"#, "schema 2 is not the supported 1"),
        (#"{"schema":1,"run":"r","body":{}}"#, "field \"type\" is missing"),
        (#"{"schema":1,"type":"other","run":"r","body":{}}"#, "expected a sample_job message, got other"),
        (#"{"schema":1,"type":"sample_job","run":"r","body":{"questionID":"q"}}"#, "field \"body.n\" is missing"),
        (#"{"schema":1,"type":"sample_job","run":"r","body":{"questionID":"q","n":"8"}}"#, "field \"body.n\" must be an integer"),
    ])
    func malformedMessagesAreClearErrors(text: String, reason: String) {
        #expect {
            try Envelope<Job>(bytes: Array(text.utf8), expecting: "sample_job")
        } throws: { error in
            String(describing: error).contains(reason)
        }
    }

    @Test func aBadBodyStillNamesItsRun() throws {
        let text = #"{"schema":1,"type":"sample_job","run":"r9","body":{}}"#
        #expect { try Envelope<Job>(bytes: Array(text.utf8), expecting: "sample_job") } throws: { ($0 as? MessageError)?.run == "r9" }
    }
}
