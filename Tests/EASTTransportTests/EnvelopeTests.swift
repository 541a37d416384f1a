import EASTCore
import EASTTransport
import Testing

@Suite struct EnvelopeTests {
    @Test func roundTrips() throws {
        let message = Envelope(type: "sample_job", run: "r1", body: .object([("question_id", "q7"), ("n", 8)]))
        let decoded = try Envelope(bytes: message.bytes, expecting: "sample_job")
        #expect(decoded == message)
        #expect(try MessageFields(decoded.body).int("n") == 8)
        #expect(throws: MessageError.self) { try MessageFields(decoded.body).string("n") }
    }

    @Test(arguments: [
        ("not json", "not JSON"),
        (#"{"type":"x","run":"r","body":{}}"#, "missing \"schema\""),
        (#"{"schema":2,"type":"x","run":"r","body":{}}"#, "schema 2 is not the supported 1"),
        (#"{"schema":1,"run":"r","body":{}}"#, "missing \"type\""),
        (#"{"schema":1,"type":"other","run":"r","body":{}}"#, "expected a sample_job message, got other"),
    ])
    func malformedMessagesAreClearErrors(text: String, reason: String) {
        #expect {
            try Envelope(bytes: Array(text.utf8), expecting: "sample_job")
        } throws: { error in
            String(describing: error).contains(reason)
        }
    }
}
