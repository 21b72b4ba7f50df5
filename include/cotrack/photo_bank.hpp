// Real photographs as texture sources for synthetic clips (torch-free, OpenCV-free).
//
// A PhotoBank holds decoded RGB images read once from a folder (JPEG, PNG or binary PPM, decoded
// with stb_image). The synthetic generator (synth.hpp) cuts its background and object textures
// from them when SynthParams::photos is set, so clips show real image content: natural texture
// statistics, edges, repeated structure and smooth regions, rather than procedural patterns.
// scripts/fetch_photos.sh builds such folders from Debian packages, split into train/ and eval/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cotrack {

struct Photo {
  int width = 0;
  int height = 0;
  std::string name;               // file name, for messages
  std::vector<std::uint8_t> rgb;  // [height][width][3]

  const std::uint8_t* at(int x, int y) const {
    return rgb.data() + (static_cast<std::size_t>(y) * width + x) * 3;
  }
};

class PhotoBank {
 public:
  // Every *.jpg, *.jpeg, *.png and *.ppm file directly in `dir`, in file-name order. Photos
  // smaller than 32 pixels on a side are skipped. Throws InputError when the folder is missing
  // or holds no usable photo, naming the folder (or the first file that fails to decode).
  static std::shared_ptr<const PhotoBank> load(const std::string& dir);
  // A bank from images already in memory (tests); throws UsageError when one is invalid.
  static std::shared_ptr<const PhotoBank> from_photos(std::vector<Photo> photos,
                                                      std::string source = "memory");

  std::size_t size() const { return photos_.size(); }
  const Photo& operator[](std::size_t i) const { return photos_[i]; }
  // The folder (or "memory") the photos came from.
  const std::string& source() const { return source_; }

 private:
  std::vector<Photo> photos_;
  std::string source_;
};

}  // namespace cotrack
