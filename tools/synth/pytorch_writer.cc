#include "tools/synth/pytorch_writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <map>
#include <numeric>
#include <optional>
#include <vector>

#include "common/atomic_file.h"
#include "tools/synth/zip_writer.h"

namespace mei::tools {
namespace {

// Builds a pickle of protocol 2 opcode by opcode (Lib/pickletools.py names them), memoizing what
// Python's pickler memoizes: globals and strings (a repeat is a BINGET), tuples and reduced
// objects (a BINPUT after each).
class Pickler {
 public:
  Pickler() { bytes_ += "\x80\x02"; }  // PROTO 2

  void Op(char op) { bytes_.push_back(op); }

  void Global(std::string_view module, std::string_view name) {
    const std::string key = fmt::format("global {}.{}", module, name);
    if (Recall(key)) return;
    bytes_ += fmt::format("c{}\n{}\n", module, name);  // GLOBAL
    Memoize(key);
  }

  void Text(std::string_view text) {
    const std::string key = fmt::format("str {}", text);
    if (Recall(key)) return;
    Op('X');  // BINUNICODE
    Le(text.size(), 4);
    bytes_ += text;
    Memoize(key);
  }

  void Int(std::uint64_t value) {
    if (value <= 0xFF) {
      Op('K');  // BININT1
      Le(value, 1);
    } else if (value <= 0xFFFF) {
      Op('M');  // BININT2
      Le(value, 2);
    } else if (value <= 0x7FFFFFFF) {
      Op('J');  // BININT
      Le(value, 4);
    } else {
      const int bytes = (64 - std::countl_zero(value)) / 8 + 1;  // room for the sign bit
      Op('\x8a');                                                // LONG1
      Le(static_cast<std::uint64_t>(bytes), 1);
      Le(value, std::min(bytes, 8));
      if (bytes > 8) Le(0, 1);
    }
  }

  void IntTuple(const std::vector<std::uint64_t>& values) {
    if (values.empty()) {
      Op(')');  // EMPTY_TUPLE, never memoized
      return;
    }
    if (values.size() > 3) Op('(');  // MARK
    for (const std::uint64_t value : values) Int(value);
    Op(values.size() > 3 ? 't' : static_cast<char>(0x84 + values.size()));  // TUPLE, TUPLE1..3
    Memoize();
  }

  // BINPUT (LONG_BINPUT past 255): stores the top of the stack in the next memo slot.
  void Memoize(std::optional<std::string> key = std::nullopt) {
    const std::uint32_t slot = next_slot_++;
    if (key) memo_.emplace(std::move(*key), slot);
    if (slot <= 0xFF) {
      Op('q');
      Le(slot, 1);
    } else {
      Op('r');
      Le(slot, 4);
    }
  }

  std::string Finish() && {
    Op('.');  // STOP
    return std::move(bytes_);
  }

 private:
  // BINGET (LONG_BINGET past 255) of what `key` was memoized as, if it was.
  bool Recall(const std::string& key) {
    const auto found = memo_.find(key);
    if (found == memo_.end()) return false;
    if (found->second <= 0xFF) {
      Op('h');
      Le(found->second, 1);
    } else {
      Op('j');
      Le(found->second, 4);
    }
    return true;
  }

  void Le(std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) bytes_.push_back(static_cast<char>(value >> (8 * i)));
  }

  std::string bytes_;
  std::map<std::string, std::uint32_t, std::less<>> memo_;
  std::uint32_t next_slot_ = 0;
};

constexpr std::size_t kSetItemsBatch = 1000;  // pickle.Pickler._BATCHSIZE

std::string_view StorageClass(StoredDtype dtype) {
  switch (dtype) {
    case StoredDtype::kF16:
      return "HalfStorage";
    case StoredDtype::kF32:
      return "FloatStorage";
    case StoredDtype::kBf16:
      break;
  }
  return "BFloat16Storage";
}

// Row-major strides, in elements.
std::vector<std::uint64_t> Strides(const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> strides(shape.size());
  std::uint64_t stride = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

// Pickles torch.Tensor.__reduce_ex__'s answer for tensor `index`, whose storage key is `index`.
void PickleTensor(Pickler& pickle, const TensorSpec& tensor, std::size_t index, StoredDtype dtype) {
  pickle.Global("torch._utils", "_rebuild_tensor_v2");
  pickle.Op('(');
  pickle.Op('(');
  pickle.Text("storage");
  pickle.Global("torch", StorageClass(dtype));
  pickle.Text(std::to_string(index));
  pickle.Text("cpu");
  pickle.Int(tensor.Elements());
  pickle.Op('t');
  pickle.Memoize();
  pickle.Op('Q');  // BINPERSID
  pickle.Int(0);   // storage offset
  pickle.IntTuple(tensor.shape);
  pickle.IntTuple(Strides(tensor.shape));
  pickle.Op('\x89');  // NEWFALSE: requires_grad
  pickle.Global("collections", "OrderedDict");
  pickle.Op(')');
  pickle.Op('R');  // REDUCE: backward hooks, OrderedDict()
  pickle.Memoize();
  pickle.Op('t');
  pickle.Memoize();
  pickle.Op('R');
  pickle.Memoize();
}

// c10::hash_combine, as PyTorch folds record CRCs into the serialization id.
std::uint64_t HashCombine(std::uint64_t seed, std::uint64_t value) {
  return seed ^ (value + 0x9e3779b9 + (seed << 6) + (seed >> 2));
}

std::uint64_t Fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325;
  for (const char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3;
  return hash;
}

Result<void> AddRecord(ZipWriter& zip, const std::string& name, std::string_view content) {
  if (Result<void> begun = zip.BeginMember(name, content.size()); !begun) return begun;
  if (Result<void> appended = zip.Append(content); !appended) return appended;
  return zip.EndMember();
}

Result<std::uint64_t> WriteCheckpoint(ZipWriter& zip, std::string_view archive_name,
                                      std::span<const TensorSpec> tensors, StoredDtype dtype) {
  const std::string folder = std::string(archive_name) + "/";
  if (Result<void> added = AddRecord(zip, folder + "data.pkl", PytorchDataPickle(tensors, dtype));
      !added) {
    return added.error();
  }
  if (Result<void> added = AddRecord(zip, folder + "byteorder", "little"); !added) {
    return added.error();
  }
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(),
            [](std::size_t a, std::size_t b) { return std::to_string(a) < std::to_string(b); });
  for (const std::size_t index : order) {
    const TensorSpec& tensor = tensors[index];
    const std::string name = folder + "data/" + std::to_string(index);
    Result<void> written = zip.BeginMember(name, tensor.Elements() * ElementBytes(dtype));
    if (written) written = AppendTensor(zip, tensor, dtype);
    if (written) written = zip.EndMember();
    if (!written) return written.error();
  }
  if (Result<void> added = AddRecord(zip, folder + "version", "3\n"); !added) {
    return added.error();
  }
  std::uint64_t names_hash = 0;
  std::uint64_t crcs = 0;
  for (const ZipMember& member : zip.members()) {
    names_hash = HashCombine(names_hash, Fnv1a(member.name.substr(folder.size())));
    crcs = HashCombine(crcs, member.crc32);
  }
  const std::string id = fmt::format("{:020}{:020}", names_hash, crcs);
  if (Result<void> added = AddRecord(zip, folder + ".data/serialization_id", id); !added) {
    return added.error();
  }
  return zip.Finish();
}

ZipWriterOptions CheckpointZipOptions() {
  ZipWriterOptions options;
  options.data_alignment = kPytorchDataAlignment;
  return options;
}

}  // namespace

std::string PytorchDataPickle(std::span<const TensorSpec> tensors, StoredDtype dtype) {
  Pickler pickle;
  pickle.Global("collections", "OrderedDict");
  pickle.Op(')');
  pickle.Op('R');
  pickle.Memoize();
  for (std::size_t first = 0; first < tensors.size(); first += kSetItemsBatch) {
    const std::size_t count = std::min(kSetItemsBatch, tensors.size() - first);
    if (count > 1) pickle.Op('(');
    for (std::size_t i = first; i < first + count; ++i) {
      pickle.Text(tensors[i].name);
      PickleTensor(pickle, tensors[i], i, dtype);
    }
    pickle.Op(count > 1 ? 'u' : 's');  // SETITEMS, SETITEM
  }
  return std::move(pickle).Finish();
}

Result<std::uint64_t> WritePytorchCheckpoint(const std::filesystem::path& path,
                                             std::span<const TensorSpec> tensors,
                                             StoredDtype dtype) {
  Result<AtomicFile> file = AtomicFile::Create(path);
  if (!file) return file.error();
  ZipWriter zip(AppendTo(*file), CheckpointZipOptions());
  Result<std::uint64_t> size = WriteCheckpoint(zip, path.stem().string(), tensors, dtype);
  if (!size) return size.error();
  if (Result<void> committed = file->Commit(); !committed) return committed.error();
  return size;
}

std::string PytorchCheckpointBytes(std::string_view archive_name,
                                   std::span<const TensorSpec> tensors, StoredDtype dtype) {
  std::string bytes;
  ZipWriter zip(AppendTo(bytes), CheckpointZipOptions());
  WriteCheckpoint(zip, archive_name, tensors, dtype).value();
  return bytes;
}

}  // namespace mei::tools
