import EASTCore
import EASTStages
import EASTTransport

/// The messages of the cluster, one type per queue. Each is a versioned
/// `Envelope`; decoding errors name the field, and the worker dead-letters
/// the message.

/// coordinator -> samplers: sample one question with the named policy version.
public struct SampleJob: Equatable, Sendable {
    public static let type = "sample_job"
    public var iteration: Int
    public var version: Int
    public var question: Question
    public var settings: SamplingSettings
    /// The run seed (each question's sampling seed derives from it).
    public var seed: UInt64
    /// The run's loss, so the clusterer picks the right kind of examples.
    public var loss: LossKind

    public var body: JSON {
        .object([
            ("iteration", .number(Double(iteration))), ("version", .number(Double(version))),
            ("question_id", .string(question.id)), ("question", .string(question.text)), ("gold", .string(question.gold)),
            ("n", .number(Double(settings.n))), ("temperature", .number(Double(settings.temperature))),
            ("top_p", .number(Double(settings.topP))), ("max_tokens", .number(Double(settings.maxNewTokens))),
            ("seed", .string(String(seed))), ("loss", .string(loss.rawValue)),
        ])
    }

    public init(iteration: Int, version: Int, question: Question, settings: SamplingSettings, seed: UInt64, loss: LossKind) {
        (self.iteration, self.version, self.question, self.settings, self.seed, self.loss) = (iteration, version, question, settings, seed, loss)
    }

    public init(_ json: JSON) throws(MessageError) {
        let f = MessageFields(json)
        iteration = try f.int("iteration")
        version = try f.int("version")
        question = Question(id: try f.string("question_id"), text: try f.string("question"), gold: try f.string("gold"))
        settings = SamplingSettings(n: try f.int("n"), temperature: Float(try f.double("temperature")),
                                    topP: Float(try f.double("top_p")), maxNewTokens: try f.int("max_tokens"))
        guard let s = UInt64(try f.string("seed")) else { throw MessageError("field \"seed\" must be an unsigned integer string") }
        seed = s
        guard let loss = LossKind(rawValue: try f.string("loss")) else { throw MessageError("unknown loss") }
        self.loss = loss
        guard settings.n >= 1, settings.n <= 64, settings.maxNewTokens >= 1, settings.temperature >= 0 else {
            throw MessageError("impossible sampling settings (n \(settings.n), max_tokens \(settings.maxNewTokens))")
        }
    }
}

/// samplers -> clusterer: the n responses of one question.
public struct SampleResult: Equatable, Sendable {
    public static let type = "sample_result"
    public var iteration: Int
    public var version: Int
    public var question: Question
    public var responses: [String]
    public var sampler: String
    public var seed: UInt64
    public var loss: LossKind

    public init(job: SampleJob, responses: [String], sampler: String) {
        (iteration, version, question, self.responses, self.sampler) = (job.iteration, job.version, job.question, responses, sampler)
        (seed, loss) = (job.seed, job.loss)
    }

    public var body: JSON {
        .object([
            ("iteration", .number(Double(iteration))), ("version", .number(Double(version))),
            ("question_id", .string(question.id)), ("question", .string(question.text)), ("gold", .string(question.gold)),
            ("responses", .array(responses.map(JSON.string))), ("sampler", .string(sampler)),
            ("seed", .string(String(seed))), ("loss", .string(loss.rawValue)),
        ])
    }

    public init(_ json: JSON) throws(MessageError) {
        let f = MessageFields(json)
        iteration = try f.int("iteration")
        version = try f.int("version")
        question = Question(id: try f.string("question_id"), text: try f.string("question"), gold: try f.string("gold"))
        responses = try f.strings("responses")
        sampler = (try? f.string("sampler")) ?? "?"
        guard let seed = UInt64(try f.string("seed")) else { throw MessageError("field \"seed\" must be an unsigned integer string") }
        guard let loss = LossKind(rawValue: try f.string("loss")) else { throw MessageError("unknown loss") }
        (self.seed, self.loss) = (seed, loss)
        guard !responses.isEmpty else { throw MessageError("field \"responses\" is empty") }
    }
}

/// coordinator -> trainer: one weighted batch of an iteration's training.
public struct TrainBatch: Equatable, Sendable {
    public static let type = "train_batch"
    public var iteration: Int
    /// The policy version training starts from; the result is version + 1.
    public var version: Int
    public var index: Int
    public var count: Int
    public var loss: LossKind
    public var weighting: RunWeighting
    public var learningRate: Float
    public var beta: Float
    public var items: [TrainingItem]

    public init(iteration: Int, version: Int, index: Int, count: Int, loss: LossKind, weighting: RunWeighting,
                learningRate: Float, beta: Float, items: [TrainingItem]) {
        (self.iteration, self.version, self.index, self.count) = (iteration, version, index, count)
        (self.loss, self.weighting, self.learningRate, self.beta, self.items) = (loss, weighting, learningRate, beta, items)
    }

    public var body: JSON {
        .object([
            ("iteration", .number(Double(iteration))), ("version", .number(Double(version))),
            ("index", .number(Double(index))), ("count", .number(Double(count))),
            ("loss", .string(loss.rawValue)), ("weighting", .string(weighting.rawValue)),
            ("lr", .number(Double(learningRate))), ("beta", .number(Double(beta))),
            ("items", .array(items.map { item in
                guard case let .object(pairs) = item.example.json else { return item.example.json }
                return .object([("question", .string(item.question))] + pairs)
            })),
        ])
    }

    public init(_ json: JSON) throws(MessageError) {
        let f = MessageFields(json)
        iteration = try f.int("iteration")
        version = try f.int("version")
        index = try f.int("index")
        count = try f.int("count")
        guard let loss = LossKind(rawValue: try f.string("loss")) else { throw MessageError("unknown loss") }
        guard let weighting = RunWeighting(rawValue: try f.string("weighting")) else { throw MessageError("unknown weighting") }
        self.loss = loss
        self.weighting = weighting
        learningRate = Float(try f.double("lr"))
        beta = Float(try f.double("beta"))
        let batchIndex = index
        items = try f.array("items").map { (item: JSON) throws(MessageError) -> TrainingItem in
            guard let question = item["question"]?.stringValue, let example = TrainingExample(json: item), example.kind == loss else {
                throw MessageError("an item of batch \(batchIndex) is not a well-formed \(loss.rawValue) example")
            }
            return TrainingItem(question: question, example: example)
        }
        guard index >= 0, index < count, !items.isEmpty else { throw MessageError("batch \(index) of \(count) is empty or out of range") }
    }
}

/// trainer -> evaluator (and coordinator, through Redis): a new policy version exists.
public struct CheckpointReady: Equatable, Sendable {
    public static let type = "checkpoint_ready"
    public var version: Int
    public var path: String

    public init(version: Int, path: String) {
        self.version = version
        self.path = path
    }

    public var body: JSON { .object([("version", .number(Double(version))), ("path", .string(path))]) }

    public init(_ json: JSON) throws(MessageError) {
        let f = MessageFields(json)
        version = try f.int("version")
        path = try f.string("path")
    }
}
