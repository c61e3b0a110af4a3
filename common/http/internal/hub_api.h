// The JSON of the Hugging Face Hub API routes, as much as stock clients (huggingface_hub,
// @huggingface/hub) read: model info with siblings, tree listings, paths-info.
//
// The Hub stores large files in Git LFS, and clients take the sha256 of the LFS pointer as a
// file's identity and the git blob id of the pointer file as its "oid". Every file is reported
// as LFS here: its pointer text is
//   "version https://git-lfs.github.com/spec/v1\noid sha256:<hex>\nsize <size>\n"
// (the Git LFS spec), its blob id is the SHA-1 of "blob <len>\0" + pointer text, and a
// directory's oid is the id of the git tree object that such pointer files would make, so the
// ids are what `git` itself would compute for a repository of LFS pointers.
// Header-only; used by data_plane.cc.
#pragma once

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/errc.h"
#include "common/manifest.h"

namespace mei::http::internal {

using GitOid = std::array<std::uint8_t, 20>;

// The id git gives an object of `type` ("blob", "tree") with `content`: SHA-1 over
// "<type> <len>\0<content>".
[[nodiscard]] inline GitOid GitObjectId(std::string_view type, std::string_view content) {
  const std::string header = std::string(type) + ' ' + std::to_string(content.size()) + '\0';
  GitOid oid{};
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  unsigned int length = 0;
  const bool ok = context != nullptr && EVP_DigestInit_ex(context, EVP_sha1(), nullptr) == 1 &&
                  EVP_DigestUpdate(context, header.data(), header.size()) == 1 &&
                  EVP_DigestUpdate(context, content.data(), content.size()) == 1 &&
                  EVP_DigestFinal_ex(context, oid.data(), &length) == 1;
  EVP_MD_CTX_free(context);
  if (!ok) oid.fill(0);  // only without memory; an all-zero id is still a well-formed answer
  return oid;
}

[[nodiscard]] inline std::string HexOf(const GitOid& oid) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(oid.size() * 2);
  for (std::uint8_t byte : oid) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  return hex;
}

[[nodiscard]] inline std::string LfsPointer(const ManifestFile& file) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + file.sha256.Hex() + "\nsize " +
         std::to_string(file.size) + "\n";
}

[[nodiscard]] inline GitOid LfsPointerOid(const ManifestFile& file) {
  return GitObjectId("blob", LfsPointer(file));
}

// The id of the git tree for the directory `prefix` ("" for the root, else "dir/"): entries
// "100644 <name>\0<20-byte id>" for files and "40000 <name>\0<id>" for directories, sorted as
// git sorts them (by name, a directory's name compared as if it ended in '/').
[[nodiscard]] inline GitOid GitTreeOid(const Manifest& manifest, const std::string& prefix) {
  struct Entry {
    std::string sort_key;
    std::string name;
    bool is_tree = false;
    GitOid oid{};
  };
  std::vector<Entry> entries;
  std::set<std::string> directories;
  for (const ManifestFile& file : manifest.files) {
    if (!file.path.starts_with(prefix)) continue;
    const std::string_view rest = std::string_view(file.path).substr(prefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
      entries.push_back({std::string(rest), std::string(rest), false, LfsPointerOid(file)});
      continue;
    }
    std::string name(rest.substr(0, slash));
    if (!directories.insert(name).second) continue;
    entries.push_back({name + '/', name, true, GitTreeOid(manifest, prefix + name + '/')});
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.sort_key < b.sort_key; });
  std::string content;
  for (const Entry& entry : entries) {
    content += entry.is_tree ? "40000 " : "100644 ";
    content += entry.name;
    content += '\0';
    content.append(reinterpret_cast<const char*>(entry.oid.data()), entry.oid.size());
  }
  return GitObjectId("tree", content);
}

// The Hub writes times with milliseconds ("2026-11-23T12:00:00.000Z"), and older huggingface_hub
// releases parse only that shape; a manifest time without a fraction gets ".000".
[[nodiscard]] inline std::string HubTime(std::string_view created) {
  if (created.ends_with('Z') && created.find('.') == std::string_view::npos) {
    return std::string(created.substr(0, created.size() - 1)) + ".000Z";
  }
  return std::string(created);
}

[[nodiscard]] inline boost::json::object LastCommitOf(const Manifest& manifest) {
  return {{"id", manifest.commit.Hex()}, {"title", ""}, {"date", HubTime(manifest.created)}};
}

// {"type":"file","oid":<pointer blob id>,"size":n,"path":p,"lfs":{"oid":sha256,"size":n,
// "pointerSize":m}}, with "lastCommit" when `expand`.
[[nodiscard]] inline boost::json::object FileEntry(const Manifest& manifest,
                                                   const ManifestFile& file, bool expand) {
  const std::string pointer = LfsPointer(file);
  boost::json::object entry = {
      {"type", "file"},
      {"oid", HexOf(GitObjectId("blob", pointer))},
      {"size", file.size},
      {"path", file.path},
      {"lfs", {{"oid", file.sha256.Hex()}, {"size", file.size}, {"pointerSize", pointer.size()}}}};
  if (expand) entry["lastCommit"] = LastCommitOf(manifest);
  return entry;
}

// {"type":"directory","oid":<tree id>,"size":0,"path":"dir"}.
[[nodiscard]] inline boost::json::object DirectoryEntry(const Manifest& manifest,
                                                        const std::string& path, bool expand) {
  boost::json::object entry = {{"type", "directory"},
                               {"oid", HexOf(GitTreeOid(manifest, path + '/'))},
                               {"size", 0},
                               {"path", path}};
  if (expand) entry["lastCommit"] = LastCommitOf(manifest);
  return entry;
}

// True when some file lies below `path` (the root "" always is a directory).
[[nodiscard]] inline bool IsDirectory(const Manifest& manifest, std::string_view path) {
  if (path.empty()) return true;
  const std::string prefix = std::string(path) + '/';
  return std::any_of(manifest.files.begin(), manifest.files.end(),
                     [&](const ManifestFile& file) { return file.path.starts_with(prefix); });
}

// The listing of directory `path` ("" for the root) as the Hub's tree route gives it: the files
// and directories directly inside it, or with `recursive` every file and directory below it (the
// Hub lists directories in recursive listings too). kFileNotFound when `path` is not a
// directory.
[[nodiscard]] inline Result<std::string> TreeJson(const Manifest& manifest, std::string_view path,
                                                  bool recursive) {
  if (!IsDirectory(manifest, path)) {
    return Error{Errc::kFileNotFound, "no directory \"" + std::string(path) + "\" in " +
                                          manifest.model + " at " + manifest.revision};
  }
  const std::string prefix = path.empty() ? std::string() : std::string(path) + '/';
  boost::json::array entries;
  std::set<std::string> listed_directories;
  for (const ManifestFile& file : manifest.files) {
    if (!file.path.starts_with(prefix)) continue;
    const std::string_view rest = std::string_view(file.path).substr(prefix.size());
    for (std::size_t slash = rest.find('/'); slash != std::string_view::npos;
         slash = recursive ? rest.find('/', slash + 1) : std::string_view::npos) {
      std::string directory = prefix + std::string(rest.substr(0, slash));
      if (listed_directories.insert(directory).second) {
        entries.push_back(DirectoryEntry(manifest, directory, /*expand=*/false));
      }
    }
    if (recursive || rest.find('/') == std::string_view::npos) {
      entries.push_back(FileEntry(manifest, file, /*expand=*/false));
    }
  }
  return boost::json::serialize(entries);
}

// The entries for the requested paths that exist (files or directories), in request order;
// unknown paths are left out, as the Hub's paths-info route does.
[[nodiscard]] inline std::string PathsInfoJson(const Manifest& manifest,
                                               const std::vector<std::string>& paths, bool expand) {
  boost::json::array entries;
  for (const std::string& path : paths) {
    const auto file =
        std::lower_bound(manifest.files.begin(), manifest.files.end(), path,
                         [](const ManifestFile& f, const std::string& p) { return f.path < p; });
    if (file != manifest.files.end() && file->path == path) {
      entries.push_back(FileEntry(manifest, *file, expand));
    } else if (!path.empty() && IsDirectory(manifest, path)) {
      entries.push_back(DirectoryEntry(manifest, path, expand));
    }
  }
  return boost::json::serialize(entries);
}

// Model info as GET /api/models/{id}[/revision/{rev}] gives it. Identity fields the Hub keeps
// elsewhere (_id, downloads, likes) are filled with the commit and zeros; "library_name" is
// "transformers" when the revision has a safetensors file, and absent otherwise.
[[nodiscard]] inline std::string ModelInfoJson(const Manifest& manifest) {
  const std::string commit = manifest.commit.Hex();
  boost::json::object info = {{"_id", commit},
                              {"id", manifest.model},
                              {"modelId", manifest.model},
                              {"sha", commit},
                              {"lastModified", HubTime(manifest.created)},
                              {"createdAt", HubTime(manifest.created)},
                              {"private", false},
                              {"gated", false},
                              {"disabled", false},
                              {"downloads", 0},
                              {"likes", 0},
                              {"tags", boost::json::array()}};
  const bool has_safetensors =
      std::any_of(manifest.files.begin(), manifest.files.end(),
                  [](const ManifestFile& file) { return file.format == "safetensors"; });
  if (has_safetensors) info["library_name"] = "transformers";
  boost::json::array siblings;
  for (const ManifestFile& file : manifest.files) {
    const std::string pointer = LfsPointer(file);
    siblings.push_back(boost::json::object{
        {"rfilename", file.path},
        {"size", file.size},
        {"blobId", HexOf(GitObjectId("blob", pointer))},
        {"lfs",
         {{"sha256", file.sha256.Hex()}, {"size", file.size}, {"pointerSize", pointer.size()}}}});
  }
  info["siblings"] = std::move(siblings);
  return boost::json::serialize(info);
}

}  // namespace mei::http::internal
