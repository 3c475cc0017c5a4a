import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import ConvCalcEngine

/// Parallel regions on the pooled threads (`WorkerPool`), shared items (`SharedItems`), and
/// regions that cannot have the pool: nested in a region, or started on two threads at once.
final class WorkerPoolTests: XCTestCase {
    /// `count` items summed by `threads` threads in a parallel region: each item once.
    func regionSum(count: Int, threads: Int, nested: Bool = false) -> Int {
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer { slots.deallocate() }
        slots.initialize(repeating: 0, count: count)
        ParallelRanges.run(count: count, threads: threads) { range in
            for i in range {
                slots[i] = nested ? self.regionSum(count: 7, threads: threads) * i : i + 1
            }
        }
        return (0..<count).reduce(0) { $0 + slots[$1] }
    }

    func testManyRegionsSeeEveryItemOnce() {
        for round in 0..<500 {
            let count = 1 + round % 37
            XCTAssertEqual(regionSum(count: count, threads: 1 + round % 4), count * (count + 1) / 2, "round \(round)")
        }
    }

    #if canImport(Glibc)
    /// Regions further apart than the pooled threads poll (`WorkerPool.spinTime`): the
    /// threads have gone to sleep on their semaphores and are woken from it.
    func testRegionsAfterThePoolSleeps() {
        for round in 0..<3 {
            XCTAssertEqual(regionSum(count: 10, threads: 2), 55, "round \(round)")
            usleep(UInt32(2 * WorkerPool.spinTime / 1000))
        }
    }
    #endif

    /// A region inside a region (the pool is in use): threads of its own, no deadlock.
    func testNestedRegions() {
        XCTAssertEqual(regionSum(count: 9, threads: 3, nested: true), 28 * 36)
    }

    #if canImport(Glibc)
    /// Regions started on two threads at once: one has the pool, the other starts threads.
    func testConcurrentRegions() {
        let results = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { results.deallocate() }
        // Two plain threads (not a region, which would hold the pool itself).
        let threads = (0..<2).compactMap { side in
            WorkerThread.spawn {
                var total = 0
                for _ in 0..<200 { total += self.regionSum(count: 16, threads: 2) }
                results[side] = total
            }
        }
        XCTAssertEqual(threads.count, 2)
        for thread in threads { pthread_join(thread, nil) }
        XCTAssertEqual(results[0], 200 * 136)
        XCTAssertEqual(results[1], 200 * 136)
    }
    #endif

    /// Mapping an array's pages ahead of its writes (`LargeArray.populate`) leaves what is
    /// there as it is, for any part of it (less than a page, not page-aligned, none).
    func testPopulateKeepsValues() {
        var values = (0..<300_000).map { Double($0) }
        values.withUnsafeMutableBufferPointer { buffer in
            for (start, count, threads) in [(0, 300_000, 2), (1, 0, 2), (3, 1, 1), (511, 100_000, 3), (7, 4_000, 2)] {
                LargeArray.populate(buffer.baseAddress! + start, count: count, threads: threads)
            }
        }
        XCTAssertEqual(values, (0..<300_000).map { Double($0) })
        let fresh = LargeArray.doubles(count: 200_000) { pointer in
            LargeArray.populate(pointer, count: 200_000, threads: 2)
            for i in 0..<200_000 { pointer[i] = Double(i % 7) }
        }
        XCTAssertEqual(fresh.reduce(0, +), Double((0..<200_000).reduce(0) { $0 + $1 % 7 }))
    }

    /// Every item taken once, whatever the threads, and fewer items than threads.
    func testSharedItemsTakesEachOnce() {
        for (threads, count) in [(1, 101), (2, 101), (3, 101), (4, 101), (4, 3), (2, 1), (3, 0)] {
            let taken = UnsafeMutablePointer<Int>.allocate(capacity: count)
            defer { taken.deallocate() }
            taken.initialize(repeating: 0, count: count)
            SharedItems.run(count: count, threads: threads) { take in
                while let item = take() { taken[item] += 1 }
            }
            XCTAssertTrue((0..<count).allSatisfy { taken[$0] == 1 }, "\(threads) threads, \(count) items")
        }
    }

    #if canImport(Glibc)
    /// A thread takes its own share in order, then the last items of a share whose thread is
    /// held up: the held-up thread (items 25 ..< 50) takes its first item only.
    func testSharedItemsTakesFromAHeldUpThread() {
        let count = 50
        let takers = UnsafeMutablePointer<Int>.allocate(capacity: count)
        defer { takers.deallocate() }
        takers.initialize(repeating: -1, count: count)
        let started = Semaphores(1)
        SharedItems.run(count: count, threads: 2) { take in
            guard let first = take() else { return }
            takers[first] = first
            if first >= 25 {
                started.post(0)
                usleep(200_000)
            } else {
                started.wait(0)   // the other thread has its first item
            }
            while let item = take() { takers[item] = first }
        }
        XCTAssertEqual((0..<count).filter { takers[$0] == 25 }, [25])
        XCTAssertEqual((0..<count).filter { takers[$0] == 0 }, (0..<count).filter { $0 != 25 })
    }
    #endif
}
