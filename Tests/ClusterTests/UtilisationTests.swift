@testable import EASTCluster
import Foundation
import Testing

/// A worker's busy share: over its last minute once it has history, else its lifetime.
@Suite struct UtilisationTests {
    @Test func busyShareOfTheLastMinute() {
        let u = Utilisation()
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        #expect(u.read(now: t0).recent == 0)  // nothing yet
        u.add(3, busy: true)
        u.add(1, busy: false)
        #expect(u.read(now: t0.addingTimeInterval(1)).recent == 0.75)  // lifetime: no interval yet
        // 30 s later: 1 busy + 9 idle since the first sample.
        u.add(1, busy: true)
        u.add(9, busy: false)
        let r = u.read(now: t0.addingTimeInterval(31))
        #expect(abs(r.recent - 4.0 / 14.0) < 1e-12)
        #expect(r.busySeconds == 4 && r.idleSeconds == 10)
        // More than a minute on, the baseline is the newest sample a minute old (t0 + 31): only what came after counts.
        u.add(2, busy: true)
        u.add(2, busy: false)
        let later = u.read(now: t0.addingTimeInterval(95))
        #expect(abs(later.recent - 0.5) < 1e-12)
    }
}
