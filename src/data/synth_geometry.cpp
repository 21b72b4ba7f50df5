// Homographies (the public homography_* helpers) and the motion of a synthetic scene: the
// camera's and every object's transform at each frame.
#include "cotrack/synth.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include "cotrack/error.hpp"
#include "data/synth_internal.hpp"

namespace cotrack {

// ---- homographies ------------------------------------------------------------------------------

namespace {

Homography make_homography(double a, double b, double c, double d, double e, double f, double g,
                           double h, double i) {
  return Homography{a, b, c, d, e, f, g, h, i};
}

}  // namespace

Homography homography_identity() { return make_homography(1, 0, 0, 0, 1, 0, 0, 0, 1); }

Homography homography_translation(double dx, double dy) {
  return make_homography(1, 0, dx, 0, 1, dy, 0, 0, 1);
}

Homography homography_multiply(const Homography& a, const Homography& b) {
  Homography out{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      out[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
    }
  }
  return out;
}

Homography homography_inverse(const Homography& h) {
  const Homography adj = {
      h[4] * h[8] - h[5] * h[7], h[2] * h[7] - h[1] * h[8], h[1] * h[5] - h[2] * h[4],
      h[5] * h[6] - h[3] * h[8], h[0] * h[8] - h[2] * h[6], h[2] * h[3] - h[0] * h[5],
      h[3] * h[7] - h[4] * h[6], h[1] * h[6] - h[0] * h[7], h[0] * h[4] - h[1] * h[3]};
  const double det = h[0] * adj[0] + h[1] * adj[3] + h[2] * adj[6];
  double scale = 0.0;
  for (double v : h) scale = std::max(scale, std::fabs(v));
  if (!(std::fabs(det) > 1e-12 * scale * scale * scale) || !std::isfinite(det)) {
    throw UsageError("homography is singular");
  }
  if (det == 1.0) return adj;
  Homography inv;
  for (int i = 0; i < 9; ++i) inv[i] = adj[i] / det;
  return inv;
}

std::array<double, 2> homography_apply(const Homography& h, double x, double y) {
  const double w = h[6] * x + h[7] * y + h[8];
  return {(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w};
}

namespace synth_detail {
namespace {

Homography rotation_scale(double angle, double scale) {
  const double c = std::cos(angle) * scale;
  const double s = std::sin(angle) * scale;
  return make_homography(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0);
}

// Perspective about the origin: (x, y) -> (x, y) / (1 + gx x + gy y).
Homography perspective(double gx, double gy) {
  return make_homography(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, gx, gy, 1.0);
}

// ---- motion -----------------------------------------------------------------------------------

// Positions at frames 0..T-1 with piecewise-linear velocity: keyframes every 6..20 frames hold a
// random velocity of norm <= max_speed, interpolated in between, so |p[t+1] - p[t]| <= max_speed.
// When `steer`, a keyframe reached outside [0, W] x [0, H] points back towards the image centre
// (objects leave and re-enter). Keyframe speeds are at least min_fraction of max_speed.
std::vector<Vec2> random_trajectory(Vec2 start, int frames, double max_speed, bool steer,
                                    double width, double height, Rng& rng,
                                    double min_fraction = 0.0) {
  auto pick = [&](const Vec2& p) {
    const double speed = max_speed * (min_fraction + (1.0 - min_fraction) * rng.uniform());
    double angle = rng.uniform(0.0, 2.0 * kPi);
    const bool outside = p.x < 0.0 || p.x > width || p.y < 0.0 || p.y > height;
    if (steer && outside) {
      angle = std::atan2(0.5 * height - p.y, 0.5 * width - p.x) + rng.uniform(-0.6, 0.6);
    }
    return Vec2{speed * std::cos(angle), speed * std::sin(angle)};
  };
  std::vector<Vec2> pos(static_cast<std::size_t>(frames));
  pos[0] = start;
  int key = 0;
  int interval = rng.range(6, 20);
  Vec2 v0 = pick(start);
  Vec2 v1 = pick(start);
  for (int t = 0; t + 1 < frames; ++t) {
    if (t >= key + interval) {
      key += interval;
      interval = rng.range(6, 20);
      v0 = v1;
      v1 = pick(pos[t]);
    }
    const double f = (t + 0.5 - key) / interval;
    pos[t + 1] = {pos[t].x + v0.x + f * (v1.x - v0.x), pos[t].y + v0.y + f * (v1.y - v0.y)};
  }
  return pos;
}

struct MotionSwitches {
  bool rotation = false;
  bool scale = false;
  bool perspective = false;
};

MotionSwitches motion_switches(const SynthParams& p) {
  MotionSwitches m;
  m.rotation = p.rotation && p.motion != SynthMotion::kTranslation;
  m.scale = p.scale && p.motion != SynthMotion::kTranslation;
  m.perspective = p.perspective && p.motion == SynthMotion::kFull;
  return m;
}

Vec2 maybe_round(const Vec2& v, bool round) {
  return round ? Vec2{std::nearbyint(v.x), std::nearbyint(v.y)} : v;
}

}  // namespace

// Camera: H(t) = T(centre) * R(theta_t) * S(zoom_t) * T(-p_t), p_t the background point seen at
// the image centre.
void set_camera_motion(const SynthParams& params, SynthLayer& bg, Rng& rng, bool fast) {
  const MotionSwitches sw = motion_switches(params);
  const Vec2 centre =
      params.integer_motion
          ? Vec2{static_cast<double>(params.width / 2), static_cast<double>(params.height / 2)}
          : Vec2{0.5 * (params.width - 1), 0.5 * (params.height - 1)};
  const Vec2 start{rng.uniform(0.0, bg.tex_width), rng.uniform(0.0, bg.tex_height)};
  const double speed = params.max_speed_px * rng.uniform(fast ? 0.6 : 0.2, 1.0);
  const std::vector<Vec2> path = random_trajectory(
      start, params.frames, params.camera_motion ? speed : 0.0, false, 0.0, 0.0, rng,
      /*min_fraction=*/fast ? 0.5 : 0.0);
  const Wave spin(rng.uniform(0.0, 0.12), rng);
  const Wave zoom(rng.uniform(0.0, 0.15), rng);
  bg.transform.resize(params.frames);
  for (int t = 0; t < params.frames; ++t) {
    const double theta = params.camera_motion && sw.rotation ? spin.at(t) - spin.at(0) : 0.0;
    const double s = params.camera_motion && sw.scale ? std::exp(zoom.at(t) - zoom.at(0)) : 1.0;
    const Vec2 p = maybe_round(path[t], params.integer_motion);
    bg.transform[t] = homography_multiply(
        homography_translation(centre.x, centre.y),
        homography_multiply(rotation_scale(theta, s), homography_translation(-p.x, -p.y)));
  }
}

// Object: H(t) = T(c_t) * R(theta_t) * S(s_t) * P(g_t) * T(-anchor), anchor = texture centre.
void set_object_motion(const SynthParams& params, SynthLayer& obj, Rng& rng, bool followed) {
  const MotionSwitches sw = motion_switches(params);
  const bool identity_pose = params.integer_motion && params.motion == SynthMotion::kTranslation;
  const double theta0 = identity_pose ? 0.0 : rng.uniform(-kPi, kPi);
  const double scale0 = identity_pose ? 1.0 : std::exp(rng.uniform(-0.25, 0.25));
  const double lo = followed ? 0.35 : 0.1, hi = followed ? 0.65 : 0.9;
  const Vec2 start{rng.uniform(lo, hi) * params.width, rng.uniform(lo, hi) * params.height};
  const double speed = params.max_speed_px * (followed ? rng.uniform(0.0, 0.2)
                                                      : rng.uniform(0.2, 1.0));
  const std::vector<Vec2> path =
      random_trajectory(start, params.frames, speed, true, params.width, params.height, rng);
  const double spin_rate = rng.uniform(-0.04, 0.04);  // radians per frame
  const Wave wobble(rng.uniform(0.0, 0.3), rng);
  const Wave breathe(rng.uniform(0.0, 0.25), rng);
  // Perspective coefficients in units of 1 / half-size: |g . (u - anchor)| <= 0.35.
  const double half_w = 0.5 * obj.tex_width;
  const double half_h = 0.5 * obj.tex_height;
  const double tilt_x0 = rng.uniform(-0.12, 0.12);
  const double tilt_y0 = rng.uniform(-0.12, 0.12);
  const Wave tilt_x(rng.uniform(0.0, 0.05), rng);
  const Wave tilt_y(rng.uniform(0.0, 0.05), rng);
  const Vec2 anchor{std::floor(half_w), std::floor(half_h)};
  obj.transform.resize(params.frames);
  for (int t = 0; t < params.frames; ++t) {
    const double theta = theta0 + (sw.rotation ? spin_rate * t + wobble.at(t) - wobble.at(0) : 0.0);
    const double s = scale0 * (sw.scale ? std::exp(breathe.at(t) - breathe.at(0)) : 1.0);
    const double gx = sw.perspective ? (tilt_x0 + tilt_x.at(t)) / half_w : 0.0;
    const double gy = sw.perspective ? (tilt_y0 + tilt_y.at(t)) / half_h : 0.0;
    const Vec2 c = maybe_round(path[t], params.integer_motion);
    Homography h =
        homography_multiply(perspective(gx, gy), homography_translation(-anchor.x, -anchor.y));
    h = homography_multiply(rotation_scale(theta, s), h);
    obj.transform[t] = homography_multiply(homography_translation(c.x, c.y), h);
  }
}

void set_object_deformation(const SynthParams& params, SynthLayer& obj, Rng& rng) {
  const int waves = rng.range(1, 3);
  const double size = std::max(obj.tex_width, obj.tex_height);
  const double slope = rng.uniform(0.15, 0.6);  // shared by the waves; the scene allows 0.9
  obj.warp.assign(static_cast<std::size_t>(waves), SynthWarpWave{});
  for (SynthWarpWave& w : obj.warp) {
    const double dir = rng.uniform(0.0, 2.0 * kPi);
    w.dir_x = std::cos(dir);
    w.dir_y = std::sin(dir);
    const double along = rng.uniform(0.0, 2.0 * kPi);
    const double freq = 2.0 * kPi / (rng.uniform(0.6, 2.5) * size);
    w.freq_x = freq * std::cos(along);
    w.freq_y = freq * std::sin(along);
    const double amp = slope / waves / freq;
    const double swing = rng.uniform(0.05, 0.35);  // radians per frame
    const double swing_phase = rng.uniform(0.0, 2.0 * kPi);
    const double phase0 = rng.uniform(0.0, 2.0 * kPi);
    const double drift = rng.uniform(-0.15, 0.15);  // radians per frame
    w.amp.resize(params.frames);
    w.phase.resize(params.frames);
    for (int t = 0; t < params.frames; ++t) {
      w.amp[t] = amp * std::sin(swing * t + swing_phase);
      w.phase[t] = phase0 + drift * t;
    }
  }
}

void add_limbs(const SynthParams& params, std::vector<SynthLayer>& layers, Rng& rng) {
  const int segments = rng.range(1, 3);
  const SynthLayer& body = layers.back();
  // The first joint: a point inside the body's texture, away from its border.
  Vec2 joint{rng.uniform(0.3, 0.7) * (body.tex_width - 1),
             rng.uniform(0.3, 0.7) * (body.tex_height - 1)};
  double length = rng.uniform(0.7, 1.2) * std::max(body.tex_width, body.tex_height);
  const double width_ratio = rng.uniform(0.15, 0.3);
  // Fast, but bounded: a segment's far end moves at most a few times the clip's motion bound.
  const double tip_speed = std::max(3.0, 2.5 * params.max_speed_px);
  for (int s = 0; s < segments; ++s) {
    const SynthLayer& parent = layers.back();
    const int tw = std::max(12, static_cast<int>(std::lround(length)));
    const int th = std::max(8, static_cast<int>(std::lround(length * width_ratio)));
    SynthLayer limb = params.photos != nullptr && rng.chance(params.photo_object_fraction)
                          ? make_photo_object(tw, th, *params.photos, rng)
                          : make_object_texture(tw, th, rng);
    // The segment turns about its near end; its far end is the next joint.
    const Vec2 anchor{0.12 * (tw - 1), 0.5 * (th - 1)};
    const double rest = s == 0 ? rng.uniform(-kPi, kPi) : rng.uniform(-1.0, 1.0);
    // angle(t) = rest + swing sin(rate t + phase): the far end, about tw from the joint, moves at
    // most swing * rate * tw pixels of texture a frame.
    const double rate = rng.uniform(0.08, 0.35);  // radians of the swing's phase per frame
    const double swing = std::min(rng.uniform(0.25, 1.0), tip_speed / (rate * tw));
    const double phase = rng.uniform(0.0, 2.0 * kPi);
    limb.transform.resize(params.frames);
    for (int t = 0; t < params.frames; ++t) {
      const double angle = rest + swing * std::sin(rate * t + phase);
      Homography h = homography_multiply(rotation_scale(angle, 1.0),
                                         homography_translation(-anchor.x, -anchor.y));
      h = homography_multiply(homography_translation(joint.x, joint.y), h);
      limb.transform[t] = homography_multiply(parent.transform[t], h);
    }
    joint = Vec2{0.88 * (tw - 1), 0.5 * (th - 1)};
    length *= rng.uniform(0.7, 1.0);
    layers.push_back(std::move(limb));
  }
}

}  // namespace synth_detail
}  // namespace cotrack
