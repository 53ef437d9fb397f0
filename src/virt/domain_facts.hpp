// What the domain XML says that matters to a migration: memory and its backing, vCPUs, devices
// that cannot migrate or need care, disks that would have to be copied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vmp::virt {

struct DiskFact {
  std::string target;   // vda
  std::string source;   // path, pool/volume or protocol name
  bool shared = false;  // network storage, or <shareable/>: nothing to copy
};

struct DomainFacts {
  std::string name;
  std::string uuid;
  std::string virt_type;       // <domain type=...>: "kvm", "qemu"
  bool kvm_dirty_ring = false;  // <features><kvm><dirty-ring state='on'/>
  std::string machine;         // pc-i440fx-7.2, pc-q35-7.2
  std::string emulator;        // <devices><emulator>: /usr/bin/qemu-system-x86_64
  std::string arch;
  std::uint64_t memory_bytes = 0;          // <memory>
  std::uint64_t current_memory_bytes = 0;  // <currentMemory>
  unsigned vcpus = 0;
  bool hugepages = false;
  std::uint64_t hugepage_size_bytes = 0;   // 0: the host's default huge page size
  // The page QEMU backs the guest's RAM with on huge pages: the XML's size, else the host's
  // default, taken as 16 MiB on ppc64 (the hash MMU's) and 2 MiB elsewhere (x86_64, and aarch64
  // with 4 KiB granules). 0: not on huge pages.
  std::uint64_t huge_page_bytes() const;
  bool memory_locked = false;
  bool preallocated = false;               // <allocation mode='immediate'/>
  std::vector<std::string> vfio_devices;   // PCI addresses of assigned host devices
  std::vector<DiskFact> disks;
};

// Throws RuntimeError when the XML cannot be parsed or lacks <memory>.
DomainFacts parse_domain_xml(const std::string& xml);

}  // namespace vmp::virt
