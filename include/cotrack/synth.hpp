// Torch-free synthetic videos with exact point-track ground truth, for tests, the evaluation
// benchmark (seeds 1..30 with the default SynthParams) and on-the-fly training data.
//
// Coordinates, everywhere in this header: pixel (i, j) -- column i, row j -- has its centre at
// (x, y) = (i, j) ("align corners"); x grows to the right, y downwards, units are pixels. A point
// is inside a W x H image when 0 <= x <= W - 1 and 0 <= y <= H - 1. Texture coordinates (u, v)
// use the same convention on the texel grid.
//
// Scene model: a clip is a stack of layers, drawn back to front (layer 0 = background, fixed
// depth order). A layer is an RGBA texture whose alpha is the shape mask, plus one projective
// transform per frame mapping texture coordinates to image pixels. The background is periodic:
// its texture tiles the plane and it covers every pixel.
//
//   * Layer k covers image point p at frame t when p, mapped through the inverse of the layer's
//     transform at t, lands inside the texture and the bilinearly interpolated alpha there is
//     >= 127.5 (half of 255). A periodic layer covers every point.
//   * Rendering maps every pixel centre through each layer's inverse transform (front to back),
//     samples the texture bilinearly and composites with alpha as the weight, so shape edges are
//     antialiased over about one texel. With motion blur (SynthScene::exposure > 0) a frame is the
//     mean of renderings at times spread evenly over the exposure, centred on the frame's time,
//     when the ground truth is taken; transforms between frames are interpolated linearly.
//   * A layer may also deform (SynthLayer::warp): the texture point it shows at image point p is
//     then w_t(q) = q + d_t(q), q = transform[t]^-1 p, with d_t a sum of smooth waves whose
//     slope the scene bounds (sum over the waves of |amp| |freq| <= 0.9), so w_t is invertible.
//   * A ground-truth point is a fixed location (u, v) in one layer's texture. Its track at frame
//     t is the layer's transform at t applied to w_t^-1(u, v) (just (u, v) for a rigid layer;
//     Newton's method otherwise) in double precision, then rounded to float; it is defined at
//     every frame, also outside the image. It is visible at t when the
//     float track is inside the image and no layer above its own covers that (float) position,
//     using the same cover test as the renderer.
//
// Everything is deterministic for a seed: the generator uses its own splitmix64 streams (no
// std:: distributions) and no global mutable state, so clips may be generated concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cotrack/photo_bank.hpp"
#include "cotrack/video.hpp"

namespace cotrack {

// Curriculum knob for layer motion (the bool switches of SynthParams further restrict it).
enum class SynthMotion {
  kTranslation,  // every layer only translates (objects keep a fixed random rotation and scale)
  kAffine,       // translation plus rotation and scale changing over time
  kFull,         // affine plus mild perspective (homography) on the objects
};

// Parses "translation" / "affine" / "full"; throws UsageError otherwise.
SynthMotion parse_synth_motion(const std::string& name);
const char* to_string(SynthMotion motion);

// Settings of generate_clip(). The defaults are the evaluation benchmark's (256x256, 48 frames).
struct SynthParams {
  int width = 256;      // pixels, in [8, 8192]
  int height = 256;     // pixels, in [8, 8192]
  int frames = 48;      // in [1, 100000]
  int min_objects = 3;  // number of foreground objects, drawn uniformly in [min, max] per clip
  int max_objects = 6;  // at most 64
  int num_points = 64;  // ground-truth tracks, sampled over all layers (background included)
  // Fraction of points whose query frame is 0 (when their layer is visible there); the others
  // are queried at a uniformly random frame.
  double query_first_fraction = 0.5;
  // Bound on the per-frame displacement of every layer's anchor (object centre, point of the
  // background plane at the image centre), in pixels per frame. Rotation and zoom add to it.
  double max_speed_px = 4.0;
  SynthMotion motion = SynthMotion::kFull;
  bool rotation = true;           // rotation over time (needs motion >= kAffine)
  bool scale = true;              // scale change over time (needs motion >= kAffine)
  bool perspective = true;        // perspective change on objects (needs motion == kFull)
  bool camera_motion = true;      // background moves (translation, plus mild zoom / rotation)
  bool brightness_change = true;  // per-frame global gain and bias
  bool noise = true;              // additive Gaussian noise of std noise_sigma
  double noise_sigma = 2.0;       // in 0..255 intensity units, in [0, 64]
  bool blur = true;               // each clip is blurred with probability 1/2 ([1 2 1]/4, x and y)
  // Round every layer's translation to whole pixels and, under kTranslation, make the objects'
  // fixed rotation and scale the identity: frames are then exact integer shifts of the textures.
  bool integer_motion = false;
  // Real photographs to cut textures from (null: procedural textures only, the benchmark's).
  // With photos, the background is a photo (mirrored into a periodic tile) and each object is a
  // photo crop with probability photo_object_fraction, else a procedural pattern.
  std::shared_ptr<const PhotoBank> photos;
  double photo_object_fraction = 0.8;  // in [0, 1]
  // Non-rigid objects: each object bends and ripples with this probability (a warp of 1-3 waves
  // as long as 0.6-2.5 object sizes, swinging back and forth). 0: every layer is rigid.
  double deform_fraction = 0.0;  // in [0, 1]
  // Articulated objects: each object grows, with this probability, a limb of 1-3 thin segments
  // (layers in front of it), each hinged on the one before and swinging about its joint, as legs
  // and arms do. An articulated object does not deform. 0: no limbs.
  double articulated_fraction = 0.0;  // in [0, 1]
  // Motion blur: with this probability the clip's shutter stays open for 30-100% of a frame
  // interval (SynthScene::exposure). 0: no motion blur.
  double motion_blur_fraction = 0.0;  // in [0, 1]
  // A followed subject: with this probability the camera follows the clip's front object, as a
  // hand-held or panning camera follows a runner or a horse. The background then moves fast (a
  // speed bound of 60-100% of max_speed_px, each of its velocity keyframes at least half of that
  // bound), while the subject is large (35-60% of the shorter side), starts near the centre,
  // drifts at most 20% of max_speed_px a frame, grows a limb with probability 1/2 (or
  // articulated_fraction, if higher) and is weakly textured: it and its limbs take its mean
  // colour and keep 15-50% of their contrast. 0: no clip follows a subject.
  double follow_fraction = 0.0;  // in [0, 1]
  // The defaults of these four keep the clips of every seed as they were before they existed.

  // Throws UsageError naming the first bad setting.
  void validate() const;
};

// A rendered clip and its ground truth. Frame-major layouts; N = num_points, T = frames.
struct SynthClip {
  int width = 0;
  int height = 0;
  int frames = 0;
  int num_points = 0;
  std::vector<std::uint8_t> rgb;      // [T][H][W][3], RGB
  std::vector<float> tracks;          // [T][N][2], (x, y) pixels, align-corners convention
  std::vector<std::uint8_t> visible;  // [T][N], 1 = visible, 0 = occluded or outside the image
  std::vector<int> query_frame;       // [N], frame at which the point was sampled (visible there)
  std::vector<int> layer;             // [N], the point's layer (0 = background); -1 = unknown
  // [T][N], 1 = ground truth given at (t, n), 0 = not annotated (tracks and visible hold 0 there
  // and mean nothing; the metrics skip it). Empty = every entry annotated (dense ground truth).
  // A point's query frame is always annotated.
  std::vector<std::uint8_t> annotated;

  std::size_t frame_size() const {
    return static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3;
  }
  const std::uint8_t* frame(int t) const { return rgb.data() + frame_size() * t; }
  std::uint8_t* frame(int t) { return rgb.data() + frame_size() * t; }
  // Offset of (frame t, point n) into `visible`; times 2 for `tracks`.
  std::size_t index(int t, int n) const {
    return static_cast<std::size_t>(t) * static_cast<std::size_t>(num_points) +
           static_cast<std::size_t>(n);
  }
  float x(int t, int n) const { return tracks[2 * index(t, n)]; }
  float y(int t, int n) const { return tracks[2 * index(t, n) + 1]; }
  bool is_visible(int t, int n) const { return visible[index(t, n)] != 0; }
  bool is_annotated(int t, int n) const {
    return annotated.empty() || annotated[index(t, n)] != 0;
  }

  // Throws InputError when a vector's size does not match the dimensions (annotated: or is
  // empty) or a query frame is outside the clip or not annotated.
  void validate_shapes() const;
};

// 3x3 row-major projective transform acting on column vectors (x, y, 1).
using Homography = std::array<double, 9>;

Homography homography_identity();
Homography homography_translation(double dx, double dy);
// a * b: the transform that applies b first, then a.
Homography homography_multiply(const Homography& a, const Homography& b);
// Inverse through the adjugate (exact for integer translations); throws UsageError if singular.
Homography homography_inverse(const Homography& h);
// h applied to (x, y), dehomogenised.
std::array<double, 2> homography_apply(const Homography& h, double x, double y);

// One wave of a layer's deformation: at frame t it moves texture coordinate q = (qx, qy) by
// amp[t] * (dir_x, dir_y) * sin(freq_x * qx + freq_y * qy + phase[t]).
struct SynthWarpWave {
  double dir_x = 1.0;   // direction of the displacement, a unit vector
  double dir_y = 0.0;
  double freq_x = 0.0;  // radians per texel
  double freq_y = 0.0;
  std::vector<double> amp;    // [T], texels
  std::vector<double> phase;  // [T], radians
};

constexpr int kMaxSynthWarpWaves = 4;

struct SynthLayer {
  int tex_width = 0;                  // >= 2; a power of two when periodic
  int tex_height = 0;                 // >= 2; a power of two when periodic
  bool periodic = false;              // texture tiles the plane; covers everything, alpha ignored
  std::vector<std::uint8_t> rgba;     // [tex_height][tex_width][4]; alpha 255 = inside the shape
  std::vector<Homography> transform;  // [T]: texture coordinates -> image pixels at frame t
  // Non-rigid deformation, at most kMaxSynthWarpWaves waves; empty: the layer is rigid.
  std::vector<SynthWarpWave> warp;
};

// A scene ready to render. build_synth_scene() makes random ones; tests may build their own.
struct SynthScene {
  int width = 0;                   // >= 2
  int height = 0;                  // >= 2
  int frames = 0;                  // >= 1
  std::vector<SynthLayer> layers;  // back to front; layers[0] must be periodic
  // Photometric model, applied to the composited image c (0..255 units) at frame t:
  // out = clamp(round(gain[t] * blur(c) + bias[t] + noise_sigma * n), 0, 255), n ~ N(0, 1)
  // drawn from a counter-based hash of (noise_seed, t, pixel, channel).
  std::vector<float> gain;  // [T]
  std::vector<float> bias;  // [T]
  float noise_sigma = 0.0f;
  bool blur = false;  // separable [1 2 1] / 4 blur, edge pixels replicated
  std::uint64_t noise_seed = 0;
  // Motion blur: the shutter is open for this fraction of a frame interval, in [0, 1], centred
  // on the frame's time (0: an instant). Before the photometric model.
  double exposure = 0.0;

  // Throws UsageError naming the first inconsistency.
  void validate() const;
};

// A ground-truth point: a location in a layer's texture, queried at a frame.
struct SynthPoint {
  int layer = 0;
  int query_frame = 0;
  double u = 0.0;  // texture coordinates (texel centres at integers)
  double v = 0.0;
};

// A random scene: background, objects, motion and photometrics from `params`. Independent
// parts use independent random streams, so switching off e.g. noise leaves the geometry as is.
SynthScene build_synth_scene(const SynthParams& params, std::uint64_t seed);

// Samples `num_points` points: about a third on the background, the rest on random objects,
// each at a random query frame (frame 0 with probability first_fraction) and a uniformly random
// position where its layer is top-most and inside the image, so it is visible at its query frame.
// A layer without such a position falls back to whichever layer is top-most at a random pixel.
std::vector<SynthPoint> sample_synth_points(const SynthScene& scene, int num_points,
                                            double first_fraction, std::uint64_t seed);

// Index of the top-most layer covering image point (x, y) at frame t, or -1 if none.
int synth_top_layer(const SynthScene& scene, int frame, double x, double y);

// Renders every frame and computes the tracks and visibility of `points`. query_frame and layer
// are copied from the points; visibility at the query frame is only guaranteed for points from
// sample_synth_points(). Throws UsageError for an invalid scene or point.
SynthClip render_synth_clip(const SynthScene& scene, const std::vector<SynthPoint>& points);

// build_synth_scene + sample_synth_points + render_synth_clip for one seed.
SynthClip generate_clip(const SynthParams& params, std::uint64_t seed);

// Writes the clip directory format (created if needed, files overwritten):
//   dir/frames/000000.ppm ...  binary PPM (P6, maxval 255), one per frame, numbered from 0;
//   dir/gt.csv      header "point_id,frame,x,y,visible", one row per point per annotated frame
//                   (every frame, unless clip.annotated says otherwise), ordered by point then
//                   frame; x, y with 4 decimals, visible 0 or 1;
//   dir/points.csv  header "point_id,frame,x,y", one row per point: its query frame and position.
// Throws Error(kRuntime) when a file cannot be written.
void write_clip(const SynthClip& clip, const std::string& dir);

// Reads that format back: frames 000000.ppm, 000001.ppm, ... up to the first missing number;
// gt.csv rows in any order, at most one per point and frame. Dense ground truth has a row for
// every point and frame (`annotated` stays empty); sparse ground truth has rows on annotated
// frames only, and the missing (t, n) are marked 0 in `annotated`. Point ids run from 0 without
// gaps: every point needs at least one row. points.csv gives query_frame, which must be an
// annotated frame of its point. `layer` is -1 for every point (the format does not store it).
// Throws InputError naming the file (and line, for CSV rows) on malformed, missing or
// inconsistent input.
SynthClip read_clip(const std::string& dir);
// The same with frames read elsewhere (PNG folders, video files: the pipeline's VideoReader);
// gt.csv and points.csv still come from `dir`.
SynthClip read_clip(const std::string& dir, const VideoFrames& frames);
// Only the frames of a clip folder (dir/frames/000000.ppm ...), without ground truth: for
// label-free checks. Throws InputError as read_clip.
VideoFrames read_clip_frames(const std::string& dir);

}  // namespace cotrack
