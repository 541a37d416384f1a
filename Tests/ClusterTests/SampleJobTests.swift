@testable import EASTCluster
import EASTCore
import EASTStages
import EASTTransport
import Testing

/// What a sampling job and its result must hold; a message failing these is
/// dead-lettered by the worker loop.
@Suite struct SampleJobTests {
    static let questions = (1...3).map { Question(id: "q\($0)", text: "What is \($0) + 1?", gold: "\($0 + 1)") }
    static func samples(_ id: String) -> QuestionSamples {
        QuestionSamples(questionID: id, responses: ["2", "3"], meanLogProbs: [-0.5, -0.7], tokenCounts: [1, 1])
    }

    @Test func aJobNeedsDistinctQuestions() throws {
        try SampleJob(iteration: 1, version: 0, questions: Self.questions).validate()
        #expect { try SampleJob(iteration: 1, version: 0, questions: []).validate() } throws: { "\($0)".contains("\"questions\" is empty") }
        let twice = [Self.questions[0], Self.questions[1], Self.questions[0]]
        #expect { try SampleJob(iteration: 1, version: 0, questions: twice).validate() } throws: { "\($0)".contains("names a question twice") }
    }

    @Test func aResultAnswersExactlyItsJobsQuestionsInOrder() throws {
        let job = SampleJob(iteration: 1, version: 0, questions: Self.questions)
        try SampleResult(job: job, samples: ["q1", "q2", "q3"].map(Self.samples), sampler: "s").validate()
        for ids in [["q1", "q2"], ["q2", "q1", "q3"], ["q1", "q2", "q4"]] {
            #expect { try SampleResult(job: job, samples: ids.map(Self.samples), sampler: "s").validate() } throws: {
                "\($0)".contains("the job asked [\"q1\", \"q2\", \"q3\"]")
            }
        }
        var empty = ["q1", "q2", "q3"].map(Self.samples)
        empty[1].responses = []
        #expect { try SampleResult(job: job, samples: empty, sampler: "s").validate() } throws: { "\($0)".contains("samples[1].responses") }
    }

    @Test func aJobDecodesFromItsEnvelopeAndOldSingleQuestionJobsAreClearErrors() throws {
        let job = SampleJob(iteration: 2, version: 1, questions: Self.questions)
        let decoded = try Envelope<SampleJob>(bytes: job.envelope(run: "r"), expecting: SampleJob.type).body
        #expect(decoded == job)
        let old = #"{"schema":1,"type":"sample_job","run":"r","body":{"iteration":1,"version":0,"question":{"id":"q","text":"t","gold":"1"}}}"#
        #expect { try Envelope<SampleJob>(bytes: Array(old.utf8), expecting: SampleJob.type) } throws: {
            "\($0)".contains("field \"body.questions\" is missing")
        }
    }
}
