// Everything one run found out about one guest, ready to be rendered for people or scripts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/advisor.hpp"
#include "model/dirty_curve.hpp"
#include "model/grid.hpp"
#include "model/interval.hpp"
#include "model/libvirt_steps.hpp"
#include "model/thread_cost.hpp"
#include "model/precopy.hpp"
#include "probe/profile.hpp"
#include "virt/domain_facts.hpp"
#include "virt/migration_config.hpp"

namespace vmp::report {

// Where a setting's value came from, shown next to it.
enum class Source { CommandLine, Domain, Default, None };
std::string to_string(Source source);  // for people: "command line"
std::string to_key(Source source);     // for JSON: "command-line"

struct Setting {
  std::optional<double> value;  // absent: nothing known (no bandwidth configured or given)
  Source source = Source::None;
  std::string note;             // why, when the value is absent or needs explaining
};

struct Settings {
  Setting bandwidth_bytes_per_s;
  Setting link_bytes_per_s;  // absent: taken as the bandwidth
  Setting downtime_limit_ms;
  Setting deadline_ms;
  // No cap on the migration: the bandwidth above is the link's (a drain shares that link).
  bool bandwidth_is_link = false;
};

struct Report {
  std::string subject;  // the profile's path, or the domain's name
  probe::DirtyProfile profile;
  model::CurveChoice curve_choice;
  model::DirtyCurve curve;
  Settings settings;
  std::optional<model::PrecopyResult> prediction;  // absent when no bandwidth is known
  // The model's input as the prediction ran it (a drain plan runs it again, sharing a link).
  std::optional<model::PrecopyInput> model_input = std::nullopt;
  // The prediction at the two ends of the measurement's sampling error; with the prediction.
  std::optional<model::PredictionInterval> interval = std::nullopt;
  // The model's input and curve at the interval's favourable (low) and unfavourable (high) end,
  // as those ends ran (a drain plan runs them again, sharing a link); with the interval.
  std::optional<model::IntervalEnd> low_end = std::nullopt;
  std::optional<model::IntervalEnd> high_end = std::nullopt;
  // libvirt's steps before QEMU's migration starts: in every total time above and below.
  model::LibvirtSteps libvirt_steps = {};
  // The migration thread's cost per page, which bounds one stream on a fast link.
  model::MigrationThread migration_thread = {};
  std::optional<model::Grid> grid;
  model::Advice advice;
  model::AdviceLimits limits;  // what the advice was allowed to propose
  double auto_converge_max_pct = 99;  // the guest's max-cpu-throttle
  // A live measurement also knows the domain and its configured migration settings.
  std::optional<virt::DomainFacts> facts;
  std::optional<virt::MigrationConfig> migration_config;
  std::string accelerator;
  std::vector<std::string> warnings;
  // Two periods a steady load cannot produce, if the measurement has them; with mean_reading,
  // the curve above is the load's mean over the measurement (model::mean_rate_points), not the
  // points as measured, and the interval spans both readings.
  std::optional<model::RateChange> rate_change = std::nullopt;
  bool mean_reading = false;
};

}  // namespace vmp::report
