#include "virt/domain_facts.hpp"

#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <cstdlib>
#include <memory>

#include "base/error.hpp"

namespace vmp::virt {
namespace {

struct DocFree {
  void operator()(xmlDocPtr d) const { xmlFreeDoc(d); }
};
struct CtxFree {
  void operator()(xmlXPathContextPtr c) const { xmlXPathFreeContext(c); }
};
struct ObjFree {
  void operator()(xmlXPathObjectPtr o) const { xmlXPathFreeObject(o); }
};

class XPath {
 public:
  explicit XPath(xmlDocPtr doc) : ctx_(xmlXPathNewContext(doc)) {}

  std::string string(const std::string& expr, xmlNodePtr node = nullptr) const {
    ctx_->node = node ? node : xmlDocGetRootElement(ctx_->doc);
    std::unique_ptr<xmlXPathObject, ObjFree> o(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(("string(" + expr + ")").c_str()),
                               ctx_.get()));
    if (!o || o->type != XPATH_STRING || !o->stringval) return "";
    return reinterpret_cast<const char*>(o->stringval);
  }

  std::vector<xmlNodePtr> nodes(const std::string& expr) const {
    ctx_->node = xmlDocGetRootElement(ctx_->doc);
    std::unique_ptr<xmlXPathObject, ObjFree> o(
        xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(expr.c_str()), ctx_.get()));
    std::vector<xmlNodePtr> out;
    if (o && o->nodesetval) {
      for (int i = 0; i < o->nodesetval->nodeNr; ++i) out.push_back(o->nodesetval->nodeTab[i]);
    }
    return out;
  }

 private:
  std::unique_ptr<xmlXPathContext, CtxFree> ctx_;
};

// libvirt's scaled integers: <memory unit='KiB'>1048576</memory>; KiB when no unit.
std::uint64_t scaled(const std::string& value, const std::string& unit) {
  if (value.empty()) return 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(value.c_str(), &end, 10);
  std::string u = unit;
  for (auto& ch : u) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::uint64_t factor = 1024;
  if (u == "b" || u == "bytes") factor = 1;
  else if (u == "k" || u == "kib") factor = 1024;
  else if (u == "kb") factor = 1000;
  else if (u == "m" || u == "mib") factor = 1024ull * 1024;
  else if (u == "mb") factor = 1000ull * 1000;
  else if (u == "g" || u == "gib") factor = 1024ull * 1024 * 1024;
  else if (u == "gb") factor = 1000ull * 1000 * 1000;
  else if (u == "t" || u == "tib") factor = 1024ull * 1024 * 1024 * 1024;
  return static_cast<std::uint64_t>(v) * factor;
}

}  // namespace

std::uint64_t DomainFacts::huge_page_bytes() const {
  if (!hugepages) return 0;
  if (hugepage_size_bytes) return hugepage_size_bytes;
  return arch.rfind("ppc64", 0) == 0 ? std::uint64_t{16} << 20 : std::uint64_t{2} << 20;
}

DomainFacts parse_domain_xml(const std::string& xml) {
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) throw RuntimeError("cannot parse the domain XML");
  XPath x(doc.get());
  DomainFacts f;
  f.name = x.string("/domain/name");
  f.uuid = x.string("/domain/uuid");
  f.virt_type = x.string("/domain/@type");
  f.machine = x.string("/domain/os/type/@machine");
  f.emulator = x.string("/domain/devices/emulator");
  f.kvm_dirty_ring = x.string("/domain/features/kvm/dirty-ring/@state") == "on";
  f.arch = x.string("/domain/os/type/@arch");
  f.memory_bytes = scaled(x.string("/domain/memory"), x.string("/domain/memory/@unit"));
  if (f.memory_bytes == 0) throw RuntimeError("the domain XML has no <memory>");
  f.current_memory_bytes =
      scaled(x.string("/domain/currentMemory"), x.string("/domain/currentMemory/@unit"));
  if (f.current_memory_bytes == 0) f.current_memory_bytes = f.memory_bytes;
  std::string vcpus = x.string("/domain/vcpu");
  std::string current = x.string("/domain/vcpu/@current");
  f.vcpus = static_cast<unsigned>(std::strtoul((current.empty() ? vcpus : current).c_str(),
                                               nullptr, 10));
  f.hugepages = !x.nodes("/domain/memoryBacking/hugepages").empty();
  auto pages = x.nodes("/domain/memoryBacking/hugepages/page");
  if (!pages.empty()) {
    f.hugepage_size_bytes = scaled(x.string("@size", pages.front()),
                                   x.string("@unit", pages.front()));
  }
  f.memory_locked = !x.nodes("/domain/memoryBacking/locked").empty();
  f.preallocated = x.string("/domain/memoryBacking/allocation/@mode") == "immediate";

  for (xmlNodePtr h : x.nodes("/domain/devices/hostdev[@type='pci']")) {
    std::string driver = x.string("driver/@name", h);
    if (!driver.empty() && driver != "vfio") continue;
    std::string addr = x.string("source/address/@domain", h) + ":" +
                       x.string("source/address/@bus", h) + ":" +
                       x.string("source/address/@slot", h) + "." +
                       x.string("source/address/@function", h);
    f.vfio_devices.push_back(addr);
  }
  for (xmlNodePtr d : x.nodes("/domain/devices/disk[@device='disk' or not(@device)]")) {
    DiskFact disk;
    disk.target = x.string("target/@dev", d);
    std::string type = x.string("@type", d);
    if (type == "network") {
      disk.source = x.string("source/@protocol", d) + ":" + x.string("source/@name", d);
      disk.shared = true;
    } else if (type == "volume") {
      disk.source = x.string("source/@pool", d) + "/" + x.string("source/@volume", d);
    } else {
      disk.source = x.string("source/@file", d) + x.string("source/@dev", d);
    }
    if (!x.nodes("/domain/devices/disk[target/@dev='" + disk.target + "']/shareable").empty()) {
      disk.shared = true;
    }
    if (disk.source.empty() && type != "network") continue;  // an empty drive
    f.disks.push_back(disk);
  }
  return f;
}

}  // namespace vmp::virt
