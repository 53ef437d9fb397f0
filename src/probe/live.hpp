// One live measurement of a running domain: what it is (XML facts), how it is set up to migrate,
// and how it dirties memory, into a DirtyProfile. Reads only: it never sets a migration
// parameter, capability, speed or downtime, and never pauses the guest.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "probe/claim.hpp"
#include "probe/clock.hpp"
#include "probe/dirty_rate.hpp"
#include "probe/guard.hpp"
#include "probe/profile.hpp"
#include "probe/zero_pages.hpp"
#include "virt/domain_facts.hpp"
#include "virt/job_stats.hpp"
#include "virt/migration_config.hpp"

namespace vmp::virt {
class LiveTarget;
class Monitor;
}  // namespace vmp::virt

namespace vmp::probe {

inline constexpr double kDefaultMeasureTimeMs = 10000;
inline constexpr std::uint64_t kDefaultZeroSamplePages = 8192;
// Of the measurement time, the share zero-page sampling may take. It runs before the dirty-rate
// periods, never during one: reading guest memory stalls a TCG guest enough to halve a 1 s
// measurement (seen on QEMU 7.2: 2 MiB/s instead of 7).
inline constexpr double kZeroSampleTimeShare = 0.15;

using ProgressFn = std::function<void(const std::string&)>;

// What a QEMU binary's schema (query-qmp-schema) says the measurement can use.
struct QmpDirtyRateSupport {
  bool calc_dirty_rate = false;
  bool milliseconds = false;  // calc-time-unit (QEMU 8.2 and later)
};

// One run's memory of the schemas it read: each QEMU binary's read once, whatever the number of
// its domains. The schema is about 190 KiB; 20 domains asking for it at once on a busy 2-core
// host waited 2-7 s each.
class QmpSchemaCache {
 public:
  // `binary` names the QEMU binary (its path and query-version's answer). `read` is called by
  // the first asker; the others wait for its answer, or read themselves if it failed.
  QmpDirtyRateSupport get(const std::string& binary,
                          const std::function<QmpDirtyRateSupport()>& read);

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_future<QmpDirtyRateSupport>> known_;
};

struct LiveOptions {
  double measure_time_ms = kDefaultMeasureTimeMs;
  std::uint64_t sample_pages_per_gib = 0;  // 0: chosen from the RAM size
  std::string mode = "page-sampling";
  bool use_qmp = true;
  std::uint64_t zero_sample_pages = kDefaultZeroSamplePages;
  // With QMP, the zero-page sample reads guest memory through QEMU's monitor, a page at a time;
  // false: through libvirt, 64 KiB at a time, as the tool did before 2026-12-05 (the unit tests
  // replay transcripts recorded then).
  bool zero_pages_via_monitor = true;
  std::uint64_t seed = 1;
  ProgressFn progress;
  // Non-empty: every QMP command and libvirt dirty-rate call of the measurement, with what QEMU
  // and libvirt answered, goes to DIR/DOMAIN.jsonl (virt/transcript.hpp), for the unit tests'
  // fakes. Set from $VMP_RECORD_EXCHANGES.
  std::string record_directory;
  // What ends a measurement early (see guard.hpp): the stop signal (SIGINT/SIGTERM) and the
  // connection's lifecycle events; none when null.
  const std::atomic<int>* stop = nullptr;
  // Where runs of the tool claim the domains they measure (claim.hpp); "" for none.
  std::string claim_directory;
  // Shared by the domains of one run; null: each domain reads its QEMU's schema.
  QmpSchemaCache* schema_cache = nullptr;
  // How many domains this run measures at once (this one among them): their guest-memory reads
  // share libvirt, which serves them one at a time.
  std::size_t measured_together = 1;
  // When this domain's measurement began on `clock` (the run's connection to libvirt counts);
  // unset: when measure_domain is called.
  std::optional<double> started_ms;
  // What the run does once the periods have ended, taken off kMeasureOverrunMs: the periods end
  // that much sooner. The CLI gives the predictions and the report their time
  // (kAfterPeriodsMsPerDomain for each domain measured at once).
  double after_periods_ms = 0;
};

// How far past the measurement time, counted from its start, a domain's dirty-rate periods may
// end: QEMU's hashing and the polls after the last period (0.2-0.7 s on an idle host, recorded
// on both stacks). On a busy host the periods still to come are fitted into what is left
// (fit_periods_ms), less what the run does after them (periods_end_by_ms).
inline constexpr double kMeasureOverrunMs = 1000;
// After the periods, each domain's prediction and its part of the report: 20 domains on 2 cores
// their guests keep busy, 0.1-1.1 s from the last period's answer to the run's end, which ended
// up to 12.0-12.5 s into a 10 s measurement (bench/many_domains.py, 2026-12-07).
inline constexpr double kAfterPeriodsMsPerDomain = 25;
// When the periods of a measurement that started at `started_ms` must end by.
double periods_end_by_ms(double started_ms, double measure_time_ms, double after_periods_ms);
// One domain's run, from the last period's answer to its end (the prediction, the report, the
// connection closed): 60-80 ms (a 4 GiB guest on QEMU 10.0, idle host, 2026-12-07).
inline constexpr double kAfterPeriodsLeastMs = 100;
// When the periods aim to end where QEMU takes milliseconds, so that the run ends within the
// measurement time: the longest period gives way to it a quarter second at a time (QEMU hashes
// its sampled pages at both ends of each period: 65536 of a 4 GiB guest took ~100 ms a period
// on QEMU 10.0 here, and such a run ended 9.9-10.2 s into a 10 s measurement without it).
double periods_aim_by_ms(double started_ms, double measure_time_ms, double after_periods_ms);
inline constexpr double kNoDeadline = std::numeric_limits<double>::infinity();

// A QEMU period the tool started and was stopped in: waited out when it ends within this, else
// left to end on its own (QEMU cannot cancel a calc-dirty-rate) and the next run told.
inline constexpr double kWaitOutMs = 3000;
// Of the dirty-rate budget, the most spent waiting for another client's measurement to end
// before the first period; a longer one is refused at once, with when it ends.
inline constexpr double kWaitForOthersShare = 0.25;

// What a measurement watches while it waits for QEMU, and what it tells the next run and the
// report. Every part may be null.
struct Safeguards {
  MeasurementGuard* guard = nullptr;
  MeasurementClaim* claim = nullptr;
  std::vector<std::string>* notes = nullptr;  // warnings for the report
  std::size_t measured_together = 1;          // domains measured at once (period_poll_wait_ms)
};

struct LiveResult {
  DirtyProfile profile;
  virt::DomainFacts facts;
  virt::MigrationConfig config;
  std::string accelerator;  // "kvm" | "tcg"
  std::vector<std::string> warnings;
};

// The wait before asking QEMU again whether a period `past_end_ms` past its end has ended: 10 ms
// at first, a quarter of the lateness after, at most 50 ms. QEMU hashes the sampled pages again
// after the period (recorded on QEMU 10.0: 10-60 ms for 16384 pages, 60-180 ms for 65536), and
// each poll found the end up to a whole 50 ms late, five times a measurement (0.1-0.25 s of it);
// a busy host's QEMU, late by a second, is asked about as often as before.
// With `together` domains measured at once the first wait is `together` times longer (50 ms from
// five): twenty QEMUs on a busy host are asked as often as before, not eight more times a period.
double period_poll_wait_ms(double past_end_ms, std::size_t together = 1);

// As many sample pages per GiB as QEMU allows, fewer on very large guests so that hashing stays
// under ~1 GiB of reads at each end of a period.
std::uint64_t default_sample_pages_per_gib(std::uint64_t ram_bytes);

// Measures `periods` one after another. Fails at once (key "busy") when another client has
// QEMU measuring, and when a measurement does not end within `budget_ms` plus grace; never
// takes another client's figures. Stopped by the guard within kGuardIntervalMs: a period of its
// own still running in QEMU is waited out when it ends within kWaitOutMs, else left and the
// claim told, and the error says which. With `end_by_ms` (a time on `clock`), the periods after the first are fitted
// into what is left before it, each planned to take as long beyond its length as the most a
// measured one took (fit_periods_ms), and the report is told when that changed the plan. With
// `aim_by_ms` too, where the meter takes milliseconds, the longest period is then shortened in
// whole quarter seconds to end by it, when that drops no period (periods_aim_by_ms).
// `warm_up_took_ms` (> 0): QEMU's first measurement in the process (see WarmUp) ended just now,
// after that long, seconds past its period; the note on a refitted plan then says it was that.
std::vector<CurvePoint> measure_curve(DirtyRateMeter& meter, Clock& clock,
                                      const std::vector<double>& periods_ms,
                                      std::uint64_t sample_pages_per_gib, const std::string& mode,
                                      std::uint64_t ram_bytes, double budget_ms,
                                      const ProgressFn& progress, const Safeguards& safe = {},
                                      double end_by_ms = kNoDeadline,
                                      double aim_by_ms = kNoDeadline,
                                      double warm_up_took_ms = 0);

// QEMU's first measurement in a process, of the shortest period, whose figures are dropped (see
// DirtyRateMeter::status): started by start_warm_up before the guest's memory is read, so that
// QEMU's slow first hashing of the sampled pages runs meanwhile.
struct WarmUp {
  bool started = false;  // QEMU had never measured; false: it had, and nothing was started
  double period_ms = 0;
  double started_ms = 0;  // on the measurement's clock
  // Not started: the measurement QEMU was running when asked (another client's), from the same
  // query, so that the check for it asks QEMU nothing more.
  std::optional<RunningMeasurement> running = std::nullopt;
};

// Starts the warm-up where QEMU never measured (one query of QEMU's state elsewhere, starting
// nothing); fails at once (key "busy") when QEMU will not start it.
WarmUp start_warm_up(DirtyRateMeter& meter, Clock& clock, std::uint64_t sample_pages_per_gib,
                     const std::string& mode, const ProgressFn& progress,
                     const Safeguards& safe = {});

// The curve within `budget_ms`: the periods planned for what the meter can ask, after the
// warm-up where QEMU never measured before: `warm_up` when start_warm_up was called before
// (nullopt: it is called here). The warm-up may end up to kGraceMs past the budget; one that
// has not fails the domain. Unless a warm-up was started before, another client's measurement
// running at the start is waited for (noted) when it ends within kWaitForOthersShare of the
// budget, else refused at once.
std::vector<CurvePoint> measure_dirty_curve(DirtyRateMeter& meter, Clock& clock, double budget_ms,
                                            std::uint64_t sample_pages_per_gib,
                                            const std::string& mode, std::uint64_t ram_bytes,
                                            const ProgressFn& progress,
                                            const Safeguards& safe = {},
                                            double end_by_ms = kNoDeadline,
                                            std::optional<WarmUp> warm_up = std::nullopt,
                                            double aim_by_ms = kNoDeadline);

// The QMP meter, in milliseconds where the schema allows. Throws RuntimeError when this QEMU
// cannot measure dirty rates at all.
std::unique_ptr<DirtyRateMeter> qmp_dirty_rate_meter(virt::Monitor& monitor, const std::string& who,
                                                     const std::string& qemu_version,
                                                     QmpSchemaCache* cache = nullptr,
                                                     const std::string& binary = {});

// The fewest pages a zero-page estimate rests on, read in 16-page clusters (libvirt's reads):
// 13 reads. A page read alone through the monitor counts as much as a cluster: on a real test
// guest's RAM (tests/unit/data/xp) 13 pages spread over it estimate its zero pages as closely as 13
// clusters do (10458 and 10383 pages, root mean square), and 200 as closely as 200 (1250, 1121):
// pages within a cluster are alike. So the least is in reads, 13 either way. With fewer the
// estimate falls back to the QEMU process's RSS, a lower bound.
inline constexpr std::uint64_t kMinZeroSample = 200;
inline constexpr std::uint64_t kMinZeroReads = (kMinZeroSample + 15) / 16;

// Samples units (pages or clusters) until `target_pages` are read or `budget_ms` has passed;
// short of kMinZeroReads reads then, on until they are read, if the reads it still needs, at the
// pace so far, end before the budget has passed once more; and stops at once, within the budget
// too, when they cannot. On a busy host a read takes far longer (4 guests measured at once on 2
// cores, 2026-12-03: 140-210 ms each, 7-9 of them in a 1.5 s budget), and the RSS's bound is 0
// zero pages for a guest whose memory QEMU has touched once: mostly-empty guests were predicted
// at twice their real time. With `cold_first_read` (QEMU's warm-up hashing meanwhile), one read
// alone is judged against twice the time left: it is the slowest (two 512 MiB guests measured
// together, QEMU 10.0: 204 and 269 ms, then 20-40 ms each; 40-55 ms without the warm-up).
void sample_zero_pages(ZeroPageSampler& sampler, Clock& clock, std::uint64_t target_pages,
                       double budget_ms, MeasurementGuard* guard = nullptr,
                       bool cold_first_read = false);

LiveResult measure_domain(virt::LiveTarget& target, const LiveOptions& options, Clock& clock);

// libvirt's steps before QEMU's migration as this host saw them, from libvirt's record of the
// domain's incoming migration (`job`: virDomainGetJobStats, completed): the job's time elapsed,
// which libvirt counts from the source's first step, less QEMU's own migration (its setup, then
// the bytes sent at the bandwidth QEMU reports for it, which QEMU computes over that time).
// Nothing when the job is not a completed incoming migration or lacks a figure.
std::optional<double> incoming_libvirt_steps_ms(const virt::JobStats& job);

}  // namespace vmp::probe
