// The prediction itself: a measured profile and the settings in effect in, a report out (the
// model run, its interval, the advice, the table); and what a live domain's libvirt and QEMU
// settings make of those settings. The command line's --domain, --all-running and --profile all
// end here.
#pragma once

#include <optional>
#include <string>

#include "model/advisor.hpp"
#include "model/defaults.hpp"
#include "model/dirty_curve.hpp"
#include "model/libvirt_steps.hpp"
#include "probe/profile.hpp"
#include "report/report.hpp"
#include "virt/domain_facts.hpp"
#include "virt/migration_config.hpp"

namespace vmp::predict {

struct Options {
  report::Settings settings;
  model::CurvePolicy curve_policy = model::CurvePolicy::Auto;
  model::AdviceLimits limits;
  bool with_grid = false;
  // The guest's auto-converge parameters (QEMU's, else QEMU's defaults) and what rules out or
  // caps post-copy; a saved profile knows neither, and gets the defaults.
  model::AutoConverge auto_converge;
  model::PostcopyConstraints postcopy;
  // QEMU's own parameters that change pre-copy itself (read from a live domain; a saved profile
  // knows neither): avail-switchover-bandwidth, and zero-page-detection none, which sends zero
  // pages whole.
  double switchover_bandwidth_bytes_per_s = 0;
  bool zero_page_detection = true;
  // libvirt's steps as this host saw them when another domain migrated here, lent to a domain
  // that has no arrival of its own (model::lend_seen_steps); its own, when it has one, wins.
  std::optional<model::SeenSteps> lent_libvirt_steps;
};

// With no cap on the migration, the link's speed is what it gets.
report::Settings with_link_as_bandwidth(report::Settings settings);

// The pure half of a run: a measured profile and the settings in, a report out.
report::Report make_report(std::string subject, probe::DirtyProfile profile,
                           const Options& options);

// Settings in effect for a live domain: the command line wins, then what libvirt applies to a
// migration it starts. QEMU's own max-bandwidth (128 MiB/s by default) is not what a libvirt
// migration uses: libvirt passes its own value when the migration starts.
void apply_domain_settings(report::Settings& settings, const virt::MigrationConfig& config);
// Auto-converge parameters as QEMU has them now (libvirt passes them on unless the migration
// names its own), and post-copy's cap and whether VFIO devices rule it out.
void apply_guest_constraints(Options& options, const virt::MigrationConfig& config,
                             const virt::DomainFacts& facts);

}  // namespace vmp::predict
