#pragma once
/// A unique scratch directory for one test, removed (with its contents) when
/// the test ends so runs never see each other's databases.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace oag::test {

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "oag-storage-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  /// The directory itself.
  const std::string& path() const noexcept { return path_; }
  /// A path inside the directory (not created).
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

} // namespace oag::test
