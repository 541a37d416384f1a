import EASTCore
import Foundation
import Testing

/// `east compare` on run folders with hand-made per-question results.
@Suite struct CompareCommandTests {
    /// A run folder whose eval-v1.jsonl has these results for questions q0, q1, ... (of contents c0, c1, ...).
    func run(_ correct: [Bool], ids: [String]? = nil, contents: [String]? = nil) throws -> String {
        let dir = try EastProcess.temporaryDirectory()
        let lines = correct.enumerated().map { i, c in
            #"{"id": "\#(ids?[i] ?? "q\(i)")", "question": "\#(contents?[i] ?? "c\(i)")", "correct": \#(c), "extracted": null}"#
        }
        try (lines.joined(separator: "\n") + "\n").write(to: dir.appendingPathComponent("eval-v1.jsonl"), atomically: true, encoding: .utf8)
        return dir.path
    }

    @Test func pairsQuestionsAndSeeds() throws {
        // 10 questions, two seeds. Seed 1: the setting alone gets q0, q1, q2, the baseline alone q9 (+0.2);
        // seed 2: the setting alone gets q0 (+0.1). Mean difference +0.15.
        let base1 = try run([false, false, false, true, true, true, false, false, false, true])
        let set1 = try run([true, true, true, true, true, true, false, false, false, false])
        let base2 = try run([false, true, true, true, false, false, false, false, false, false])
        let set2 = try run([true, true, true, true, false, false, false, false, false, false])
        let result = try EastProcess.run(["compare", "--baseline", base1, base2, "--setting", set1, set2, "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSON.parse(result.stdout)
        #expect(json["version"] == .number(1))
        #expect(abs((json["comparison"]?["difference"]?.numberValue ?? 0) - 0.15) < 1e-12)
        #expect(json["comparison"]?["seeds"] == .number(2) && json["comparison"]?["questions"] == .number(10))
        #expect(abs((json["baseline"]?["mean"]?.numberValue ?? 0) - 0.35) < 1e-12)

        let text = try EastProcess.run(["compare", "--baseline", base1, "--setting", set1])
        #expect(text.stdout.contains("setting - baseline +20.00 points"), "\(text.stdout)")
        #expect(text.stdout.contains("the CIs cover question noise only"))
    }

    @Test func refusesRunsOnOtherQuestions() throws {
        let a = try run([true, false])
        let b = try run([true, true], ids: ["q0", "other"])
        let result = try EastProcess.run(["compare", "--baseline", a, "--setting", b])
        #expect(result.status == 1)
        #expect(result.stderr.contains("holds other test questions") && result.stderr.contains("--test-seed"), "\(result.stderr)")
        // The same ids (datasets without ids number their lines) but other questions: refused too.
        let c = try run([true, true], contents: ["c0", "another question"])
        let sameIDs = try EastProcess.run(["compare", "--baseline", a, "--setting", c])
        #expect(sameIDs.status == 1 && sameIDs.stderr.contains("from line 2 on"), "\(sameIDs.stderr)")
        let uneven = try EastProcess.run(["compare", "--baseline", a, a, "--setting", b])
        #expect(uneven.status != 0)
        #expect(uneven.stderr.contains("as many --setting runs as --baseline runs"))
    }

    @Test func identicalRunsDifferByZero() throws {
        let a = try run([true, false, true])
        let result = try EastProcess.run(["compare", "--baseline", a, "--setting", a])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("setting - baseline +0.00 points") && result.stdout.contains("agree on every question"), "\(result.stdout)")
    }
}

/// `east experiment` end to end on a tiny spec: runs, resumes, refuses a changed spec.
@Suite struct ExperimentCommandTests {
    @Test func runsResumesAndRefusesAChangedSpec() throws {
        let dir = try EastProcess.temporaryDirectory()
        let backbone = EastProcess.root.appendingPathComponent("models/arith-easy").path
        let spec = """
        name: tiny
        base: {checkpoint: \(backbone), task: arith-easy, train_count: 16, n: 4, max_tokens: 48, epochs: 1}
        test: {task: arith-easy, count: 12, seed: 7}
        seeds: [1, 2]
        axes: {weighting: [uniform, entropy]}
        baseline: {weighting: uniform}
        primary: [{weighting: entropy, a: 1.0}]
        """
        let file = dir.appendingPathComponent("tiny.yaml")
        try spec.write(to: file, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        let samples = dir.appendingPathComponent("samples").path
        let first = try EastProcess.run(["experiment", "--inprocess", "--spec", file.path, "--out", out, "--parallel", "2", "--sample-cache", samples])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("tiny (inprocess, runs): 4/4 runs done"), "\(first.stderr)")
        let results = try JSON.parse(String(contentsOfFile: out + "/results.json", encoding: .utf8))
        #expect(results["test_questions"] == .number(12))
        #expect(results["runs"]?.arrayValue?.count == 4)
        #expect(results["comparisons"]?.arrayValue?.count == 1)
        #expect(FileManager.default.fileExists(atPath: out + "/runs/sft-entropy-a1.0-T1-s2/eval-v1.jsonl"))

        // The finished experiment as a pilot: its primary comparison's inputs plan the next one.
        let plan = try EastProcess.run(["power", "--pilot", out, "--questions", "1000", "--seeds", "5"])
        #expect(plan.status == 0 && plan.stdout.contains("tiny: sft entropy a=1.0 vs sft uniform"), "\(plan.stdout)\(plan.stderr)")

        // Rerun: everything is done, nothing runs again, the same results.
        let again = try EastProcess.run(["experiment", "--inprocess", "--spec", file.path, "--out", out, "--sample-cache", samples])
        #expect(again.status == 0 && again.stderr.contains("tiny (inprocess, runs): 4/4 runs done, 0 in flight, 0 waiting"), "\(again.stderr)")
        #expect(!again.stderr.contains("1 in flight") && !again.stderr.contains("2 in flight"), "\(again.stderr)")
        #expect(try JSON.parse(String(contentsOfFile: out + "/results.json", encoding: .utf8)) == results)

        // Another experiment sharing the vanilla setting takes its finished
        // runs (same resolved settings and test questions) instead of rerunning them.
        let other = dir.appendingPathComponent("other.yaml")
        try spec.replacingOccurrences(of: "name: tiny", with: "name: other").replacingOccurrences(of: "[uniform, entropy]", with: "[uniform, accuracy]")
            .replacingOccurrences(of: "primary: [{weighting: entropy", with: "primary: [{weighting: accuracy")
            .write(to: other, atomically: true, encoding: .utf8)
        let otherOut = dir.appendingPathComponent("other").path
        let shared = try EastProcess.run(["experiment", "--inprocess", "--spec", other.path, "--out", otherOut, "--sample-cache", samples, "--runs-from", out])
        #expect(shared.status == 0 && shared.stderr.contains("runs: 2 finished run(s) copied from"), "\(shared.stderr)")
        #expect(try String(contentsOfFile: otherOut + "/runs/sft-uniform-T1-s1/copied-from", encoding: .utf8).hasSuffix("out/runs/sft-uniform-T1-s1\n"))
        #expect(!FileManager.default.fileExists(atPath: otherOut + "/runs/sft-accuracy-a1.0-T1-s1/copied-from"))
        #expect(FileManager.default.fileExists(atPath: otherOut + "/runs/sft-accuracy-a1.0-T1-s1/report.md"))

        try spec.replacingOccurrences(of: "seeds: [1, 2]", with: "seeds: [1, 3]").write(to: file, atomically: true, encoding: .utf8)
        let changed = try EastProcess.run(["experiment", "--inprocess", "--spec", file.path, "--out", out, "--sample-cache", samples])
        #expect(changed.status == 1)
        #expect(changed.stderr.contains("other resolved settings (it differs in seeds"), "\(changed.stderr)")
    }

    @Test func selectionOnlyWritesAChoiceThatVerifyRecomputes() throws {
        let dir = try EastProcess.temporaryDirectory()
        let backbone = EastProcess.root.appendingPathComponent("models/arith-easy").path
        let file = dir.appendingPathComponent("pick.yaml")
        try """
        name: pick
        base: {checkpoint: \(backbone), task: arith-easy, train_count: 16, n: 4, max_tokens: 48, epochs: 1}
        test: {task: arith-easy, count: 12, seed: 7}
        seeds: [1]
        axes: {weighting: [entropy]}
        baseline: {weighting: uniform}
        selection:
          validation: {task: arith-easy, count: 10, seed: 11}
          seeds: [1]
          grid: {sft: {learning_rate: [1.0e-5, 1.0e-3]}}
        """.write(to: file, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        let result = try EastProcess.run(["experiment", "--inprocess", "--spec", file.path, "--out", out, "--parallel", "2",
                                          "--sample-cache", dir.appendingPathComponent("samples").path, "--selection-only"])
        #expect(result.status == 0 && result.stderr.contains("selection chose: sft learning rate"), "\(result.stderr)")
        for name in ["selection.json", "selection.svg", "outcomes.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + name), "\(name)")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: out + "/runs")) ?? []).isEmpty, "no run read the test set")
        let verified = try EastProcess.run(["experiment", "--verify", out])
        #expect(verified.status == 0, "\(verified.stderr)")
        // A choice edited by hand is caught.
        let path = out + "/selection.json"
        let edited = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "\"mean\" : 0", with: "\"mean\" : 1")
        try edited.write(toFile: path, atomically: true, encoding: .utf8)
        let caught = try EastProcess.run(["experiment", "--verify", out])
        #expect(caught.status == 1 && caught.stderr.contains("selection.json: "), "\(caught.stderr)")
    }

    /// The hand-computed case of Power's notes: 15% discordant, 5,000
    /// questions, 3 seeds: the seed-level t interval governs, (4.303 + 1.061)
    /// x sqrt(0.15 / 15,000) = 1.70 points; 1 point needs 5 seeds (4: 1.14, 5: 0.91).
    @Test func powerPlansSeedsAndQuestions() throws {
        let result = try EastProcess.run(["power", "--discordant", "0.15", "--questions", "5000", "--seeds", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("detectable at 5000 questions x 3 seeds: 1.70 points"), "\(result.stdout)")
        #expect(result.stdout.contains("1.00 points at 5000 questions: 5 seeds"), "\(result.stdout)")
        // Seed noise alone wider than the target: no question count helps.
        let noisy = try EastProcess.run(["power", "--discordant", "0.15", "--seed-sd", "2", "--questions", "5000", "--seeds", "3"])
        #expect(noisy.stdout.contains("no number of questions"), "\(noisy.stdout)")
        let bad = try EastProcess.run(["power", "--questions", "5000", "--seeds", "3"])
        #expect(bad.status != 0 && bad.stderr.contains("--pilot"), "\(bad.stderr)")
    }

    @Test func aMalformedSpecNamesTheField() throws {
        let dir = try EastProcess.temporaryDirectory()
        let file = dir.appendingPathComponent("bad.yaml")
        try "name: x\nbase: {checkpoint: m, task: arith-easy, lr: 0.5}\ntest: {task: arith-easy, count: 5, seed: 1}\nseeds: [1]\naxes: {}\nbaseline: {}\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let result = try EastProcess.run(["experiment", "--inprocess", "--spec", file.path, "--out", dir.appendingPathComponent("o").path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("field \"base.lr\": unknown key \"lr\"") && result.stderr.contains("learning_rate"), "\(result.stderr)")
        // A test set without its seed names the field.
        try "name: x\nbase: {checkpoint: m}\ntest: {task: arith-easy, count: 5}\nseeds: [1]\n".write(to: file, atomically: true, encoding: .utf8)
        let missing = try EastProcess.run(["experiment", "--inprocess", "--spec", file.path, "--out", dir.appendingPathComponent("o").path])
        #expect(missing.status == 1 && missing.stderr.contains("field \"test.seed\" is missing"), "\(missing.stderr)")
    }
}
