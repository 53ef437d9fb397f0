#include "virt/libvirt.hpp"

#include <string_view>

#include "virt/job_keys.hpp"

namespace vmp::virt {

// job_keys.hpp spells libvirt's job statistics for code without libvirt's headers: the same.
static_assert(job::kNone == VIR_DOMAIN_JOB_NONE && job::kBounded == VIR_DOMAIN_JOB_BOUNDED &&
              job::kUnbounded == VIR_DOMAIN_JOB_UNBOUNDED &&
              job::kCompleted == VIR_DOMAIN_JOB_COMPLETED &&
              job::kFailed == VIR_DOMAIN_JOB_FAILED && job::kCancelled == VIR_DOMAIN_JOB_CANCELLED);
static_assert(stopped::kShutdown == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN &&
              stopped::kDestroyed == VIR_DOMAIN_EVENT_STOPPED_DESTROYED &&
              stopped::kCrashed == VIR_DOMAIN_EVENT_STOPPED_CRASHED &&
              stopped::kMigrated == VIR_DOMAIN_EVENT_STOPPED_MIGRATED &&
              stopped::kSaved == VIR_DOMAIN_EVENT_STOPPED_SAVED &&
              stopped::kFailed == VIR_DOMAIN_EVENT_STOPPED_FAILED);
static_assert(job::kOperationMigrationIn == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN &&
              job::kOperationMigrationOut == VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT);
static_assert(std::string_view(job::kOperation) == VIR_DOMAIN_JOB_OPERATION);
static_assert(std::string_view(job::kTimeElapsed) == VIR_DOMAIN_JOB_TIME_ELAPSED);
static_assert(std::string_view(job::kDataRemaining) == VIR_DOMAIN_JOB_DATA_REMAINING);
static_assert(std::string_view(job::kMemoryTotal) == VIR_DOMAIN_JOB_MEMORY_TOTAL);
static_assert(std::string_view(job::kMemoryProcessed) == VIR_DOMAIN_JOB_MEMORY_PROCESSED);
static_assert(std::string_view(job::kMemoryRemaining) == VIR_DOMAIN_JOB_MEMORY_REMAINING);
static_assert(std::string_view(job::kMemoryDirtyRate) == VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE);
static_assert(std::string_view(job::kMemoryIteration) == VIR_DOMAIN_JOB_MEMORY_ITERATION);
static_assert(std::string_view(job::kMemoryPageSize) == VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE);
static_assert(std::string_view(job::kMemoryBps) == VIR_DOMAIN_JOB_MEMORY_BPS);
static_assert(std::string_view(job::kAutoConvergeThrottle) ==
              VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE);
static_assert(std::string_view(job::kDowntime) == VIR_DOMAIN_JOB_DOWNTIME);
static_assert(std::string_view(job::kSetupTime) == VIR_DOMAIN_JOB_SETUP_TIME);
static_assert(std::string_view(job::kErrmsg) == VIR_DOMAIN_JOB_ERRMSG);
namespace {
void ignore_error(void*, virErrorPtr) {}
}  // namespace

void silence_libvirt_stderr() { virSetErrorFunc(nullptr, ignore_error); }

std::string last_libvirt_error() {
  const char* message = virGetLastErrorMessage();
  return message && *message ? message : "unknown libvirt error";
}

int last_libvirt_error_code() {
  virErrorPtr e = virGetLastError();
  return e ? e->code : VIR_ERR_OK;
}

TypedParams typed_params(const virTypedParameter* params, int n) {
  TypedParams t;
  for (int i = 0; i < n; ++i) {
    const virTypedParameter& p = params[i];
    switch (p.type) {
      case VIR_TYPED_PARAM_INT:
        t.numbers[p.field] = p.value.i;
        break;
      case VIR_TYPED_PARAM_UINT:
        t.numbers[p.field] = p.value.ui;
        break;
      case VIR_TYPED_PARAM_LLONG:
        t.numbers[p.field] = static_cast<double>(p.value.l);
        break;
      case VIR_TYPED_PARAM_ULLONG:
        t.numbers[p.field] = static_cast<double>(p.value.ul);
        break;
      case VIR_TYPED_PARAM_DOUBLE:
        t.numbers[p.field] = p.value.d;
        break;
      case VIR_TYPED_PARAM_BOOLEAN:
        t.numbers[p.field] = p.value.b ? 1 : 0;
        break;
      case VIR_TYPED_PARAM_STRING:
        if (p.value.s) t.strings[p.field] = p.value.s;
        break;
      default:
        break;
    }
  }
  return t;
}

}  // namespace vmp::virt

namespace vmp::virt {

bool last_error_is_connection_failure() {
  const int code = last_libvirt_error_code();
  return code == VIR_ERR_SYSTEM_ERROR || code == VIR_ERR_RPC || code == VIR_ERR_NO_CONNECT ||
         code == VIR_ERR_INVALID_CONN;
}

void throw_libvirt_failure(const std::string& domain_name, const std::string& doing) {
  const int code = last_libvirt_error_code();
  const std::string why = last_libvirt_error();
  const std::string who = "domain " + domain_name;
  if (code == VIR_ERR_NO_DOMAIN) throw DomainGone(who + " no longer exists (" + why + ")");
  if (last_error_is_connection_failure()) {
    throw ConnectionLost("lost the connection to libvirt while " + doing + " of " + who + ": " +
                         why);
  }
  throw RuntimeError(who + ": " + doing + " failed: " + why);
}

}  // namespace vmp::virt
