// Which run of the tool measures which domain, on this host: a lock file per domain, held while
// measuring, so that a second run refuses at once instead of fighting the first for QEMU (which
// measures one dirty rate at a time); and what an interrupted run left QEMU measuring, so that
// the next run recognises it. Files: <dir>/<domain UUID>.lock, one JSON object each.
#pragma once

#include <optional>
#include <string>

namespace vmp::probe {

// /run/virt-migrate-predict for root, $XDG_RUNTIME_DIR/virt-migrate-predict otherwise; "" when
// neither exists (claims then claim nothing: best effort).
std::string default_claim_directory();

// What a run of the tool that was interrupted left QEMU measuring.
struct LeftRunning {
  long pid = 0;
  double until_epoch_s = 0;  // when QEMU's period ends
};

class MeasurementClaim {
 public:
  // Takes the domain's lock in `dir`. Throws RuntimeError (key "busy") naming the other run when
  // another run of the tool holds it. Without `dir` (or when it cannot be written), claims
  // nothing and never throws.
  MeasurementClaim(const std::string& dir, const std::string& uuid, const std::string& domain);
  ~MeasurementClaim();
  MeasurementClaim(const MeasurementClaim&) = delete;
  MeasurementClaim& operator=(const MeasurementClaim&) = delete;

  // What the previous run left QEMU measuring, as it said before it exited; nullopt when it
  // left nothing or that has ended by `now_epoch_s`.
  std::optional<LeftRunning> left_by_previous_run(double now_epoch_s) const;
  // Tells the next run that QEMU measures for this one until then.
  void leave_running(double until_epoch_s);

 private:
  int fd_ = -1;
  std::optional<LeftRunning> previous_;
};

}  // namespace vmp::probe
