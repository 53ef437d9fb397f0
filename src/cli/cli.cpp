#include "cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>

#include "cli/units.hpp"
#include "error.hpp"
#include "model/grid.hpp"
#include "model/precopy.hpp"
#include "report/human.hpp"
#include "report/json_report.hpp"
#include "vmp_config.h"

namespace vmp::cli {

report::Report predict(std::string subject, probe::DirtyProfile profile,
                       const PredictOptions& options) {
  std::vector<model::DirtyPoint> points;
  for (const auto& p : profile.dirty_curve) points.push_back({p.period_ms, p.dirty_bytes});
  const double ceiling = profile.nonzero_ram_bytes();
  auto choice = model::choose_curve(points, ceiling, options.curve_policy);
  auto curve = model::build_curve(points, ceiling, choice);

  model::PrecopyInput input;
  input.ram_bytes = static_cast<double>(profile.ram_bytes);
  input.page_size_bytes = static_cast<double>(profile.page_size_bytes);
  input.zero_pages = static_cast<double>(profile.zero_pages.count);
  input.downtime_limit_ms = *options.settings.downtime_limit_ms.value;
  input.deadline_ms = *options.settings.deadline_ms.value;

  report::Report r{std::move(subject), std::move(profile), std::move(choice), std::move(curve),
                   options.settings, std::nullopt, std::nullopt};
  const auto& bandwidth = options.settings.bandwidth_bytes_per_s.value;
  if (bandwidth) {
    input.bandwidth_bytes_per_s = *bandwidth;
    r.prediction = model::simulate_precopy(input, r.curve);
  }
  if (options.with_grid || !bandwidth) {
    r.grid = model::build_grid(input, r.curve, bandwidth, input.downtime_limit_ms);
  }
  return r;
}

int exit_status_for(const report::Report& report) {
  if (!report.prediction) return kExitNoBandwidth;
  return report.prediction->converges() ? kExitConverges : kExitNoConvergence;
}

namespace {

const char* kExitStatusHelp =
    "Exit status:\n"
    "  0  the migration converges with the settings in effect\n"
    "  1  error: the profile could not be read or is invalid\n"
    "  2  usage error: an option or its value is wrong\n"
    "  3  the migration does not converge with the settings in effect\n"
    "  5  no verdict: no migration bandwidth is known (give --bandwidth)\n"
    "\n"
    "Rates: 10Gbit/s, 1.25GB/s, 800MiB/s; a bare number is MiB/s (as virsh migrate-setspeed).\n"
    "Times: 300ms, 2s, 5m; a bare --downtime is ms (as virsh migrate-setmaxdowntime), a bare\n"
    "--deadline is seconds.";

struct RawOptions {
  std::string profile;
  std::string bandwidth;
  std::string downtime;
  std::string deadline;
  std::string curve = "auto";
  bool table = false;
  bool json = false;
};

PredictOptions resolve(const RawOptions& raw) {
  PredictOptions o;
  auto& s = o.settings;
  if (!raw.bandwidth.empty()) {
    s.bandwidth_bytes_per_s = {parse_rate_bytes_per_s(raw.bandwidth, "--bandwidth"),
                               report::Source::CommandLine};
  }
  s.downtime_limit_ms =
      raw.downtime.empty()
          ? report::Setting{kDefaultDowntimeLimitMs, report::Source::Default}
          : report::Setting{parse_time_ms(raw.downtime, TimeUnit::Milliseconds, "--downtime"),
                            report::Source::CommandLine};
  s.deadline_ms =
      raw.deadline.empty()
          ? report::Setting{kDefaultDeadlineMs, report::Source::Default}
          : report::Setting{parse_time_ms(raw.deadline, TimeUnit::Seconds, "--deadline"),
                            report::Source::CommandLine};
  if (*s.deadline_ms.value < 1000) {
    throw UsageError("--deadline: '" + raw.deadline + "' is shorter than one second");
  }
  auto policy = model::curve_policy_from_string(raw.curve);
  if (!policy) {
    throw UsageError("--curve: '" + raw.curve +
                     "' is not one of auto, hybrid, saturating, piecewise-linear");
  }
  o.curve_policy = *policy;
  o.with_grid = raw.table;
  return o;
}

// CLI11 wants the arguments last-first.
std::vector<std::string> reversed(std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());
  return args;
}

}  // namespace

int tool_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app{
      "Predict whether a live migration of a libvirt/QEMU guest converges, how long it takes and "
      "how long the guest is paused, from a measured dirty profile.",
      "virt-migrate-predict"};
  app.footer(kExitStatusHelp);
  app.set_version_flag("-V,--version", std::string("virt-migrate-predict ") + VMP_VERSION);
  RawOptions raw;
  app.add_option("--profile", raw.profile, "Dirty profile (JSON) to predict from")
      ->type_name("FILE")
      ->required();
  app.add_option("--bandwidth", raw.bandwidth,
                 "Migration bandwidth (default: unknown; the table is shown instead)")
      ->type_name("RATE");
  app.add_option("--downtime", raw.downtime, "Max downtime, the switchover limit (default 300ms)")
      ->type_name("TIME");
  app.add_option("--deadline", raw.deadline,
                 "Give up on a migration that has not converged by then (default 1h)")
      ->type_name("TIME");
  app.add_option("--curve", raw.curve,
                 "Dirty curve shape: auto (hybrid), hybrid, saturating, piecewise-linear (the 2023 RFC rule)")
      ->type_name("SHAPE");
  app.add_flag("--table", raw.table, "Also show times for common bandwidths and downtime limits");
  app.add_flag("--json", raw.json, "Write the report as JSON on stdout");

  try {
    app.parse(reversed(args));
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitConverges;
  } catch (const CLI::CallForVersion&) {
    out << app.version() << "\n";
    return kExitConverges;
  } catch (const CLI::ParseError& e) {
    err << "error: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }

  try {
    PredictOptions options = resolve(raw);
    auto report = predict(raw.profile, probe::load_profile(raw.profile), options);
    if (raw.json) {
      out << report::to_json(report).dump(2) << "\n";
    } else {
      report::write_human(out, report);
    }
    return exit_status_for(report);
  } catch (const UsageError& e) {
    err << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const RuntimeError& e) {
    err << "error: " << e.what() << "\n";
    return kExitError;
  } catch (const std::exception& e) {
    err << "error: internal error: " << e.what() << "\n";
    return kExitError;
  }
}

}  // namespace vmp::cli
