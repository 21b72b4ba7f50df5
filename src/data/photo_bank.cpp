// Photographs for synthetic textures; see include/cotrack/photo_bank.hpp.
#include "cotrack/photo_bank.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "cotrack/error.hpp"

// stb_image (Debian's libstb-dev) decodes JPEG, PNG and PNM; only those decoders are compiled.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_PNM
#define STBI_NO_STDIO_WRITE
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace cotrack {
namespace {

namespace fs = std::filesystem;

constexpr int kMinSide = 32;

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".ppm";
}

}  // namespace

std::shared_ptr<const PhotoBank> PhotoBank::load(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InputError(fmt::format("photos: '{}' is not a folder", dir));
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && is_image_name(entry.path())) files.push_back(entry.path());
  }
  if (ec) throw InputError(fmt::format("photos: cannot list '{}': {}", dir, ec.message()));
  std::sort(files.begin(), files.end());
  std::vector<Photo> photos;
  for (const auto& f : files) {
    int w = 0, h = 0, channels = 0;
    stbi_uc* data = stbi_load(f.string().c_str(), &w, &h, &channels, 3);
    if (data == nullptr) {
      throw InputError(
          fmt::format("photos: cannot decode '{}': {}", f.string(), stbi_failure_reason()));
    }
    if (w >= kMinSide && h >= kMinSide) {
      Photo p;
      p.width = w;
      p.height = h;
      p.name = f.filename().string();
      p.rgb.assign(data, data + static_cast<std::size_t>(w) * h * 3);
      photos.push_back(std::move(p));
    }
    stbi_image_free(data);
  }
  if (photos.empty()) {
    throw InputError(fmt::format("photos: no JPEG, PNG or PPM of at least {}x{} pixels in '{}'",
                                 kMinSide, kMinSide, dir));
  }
  return from_photos(std::move(photos), dir);
}

std::shared_ptr<const PhotoBank> PhotoBank::from_photos(std::vector<Photo> photos,
                                                        std::string source) {
  if (photos.empty()) throw UsageError("photos: a photo bank needs at least one photo");
  for (const auto& p : photos) {
    if (p.width < 2 || p.height < 2 ||
        p.rgb.size() != static_cast<std::size_t>(p.width) * p.height * 3) {
      throw UsageError(fmt::format("photos: '{}' has {} bytes for {}x{} RGB", p.name, p.rgb.size(),
                                   p.width, p.height));
    }
  }
  auto bank = std::make_shared<PhotoBank>();
  bank->photos_ = std::move(photos);
  bank->source_ = std::move(source);
  return bank;
}

}  // namespace cotrack
