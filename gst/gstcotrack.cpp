// The GStreamer element `cotrack`: tracks points in any pipeline's video with the same engine
// thread, frame ring and drawing as `cotrack live`.
//
//   gst-launch-1.0 videotestsrc num-buffers=90 ! video/x-raw,width=640,height=480 !
//       cotrack grid=4 tracks-location=t.csv ! fakesink
//
// The element takes RGB frames (put videoconvert before it for other formats). Each frame is
// copied into the frame ring and tracked on the engine thread. In a pipeline that is not live the
// element waits for each frame to be tracked (nothing is dropped); in a live one it never waits:
// the ring thins frames when the engine falls behind (as `cotrack live --drop thin`) and the
// element reports the drops in QoS messages. Each buffer leaves with the newest estimates drawn on
// it (draw=true) and attached as a custom meta "CotrackTracksMeta" (fields: frame, json: the
// tracks.jsonl row). Each final frame is posted on the bus as an element message "cotrack-tracks"
// (frame, timestamp, json) and written to tracks-location. Action signals add and remove points.
#include <gst/base/gstbasetransform.h>
#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>
#include <dlfcn.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/model.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/track_io.hpp"
#include "cotrack/video.hpp"
#include "engine_worker.hpp"
#include "frame_ring.hpp"
#include "live_defaults.hpp"
#include "lk_tracker.hpp"
#include "refined_tracker.hpp"
#include "renderer.hpp"

#ifndef COTRACK_SOURCE_MODELS
#define COTRACK_SOURCE_MODELS "models/training"
#endif

namespace {

constexpr const char* kMetaName = "CotrackTracksMeta";
constexpr const char* kDefaultModelName = "cotrack-small-v1.ckpt";

// The shipped model: $COTRACK_MODEL, else PREFIX/share/cotrack/models next to an installed
// plugin (PREFIX/lib/.../gstreamer-1.0/), else the source tree's.
std::string default_model_path() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("COTRACK_MODEL"); env != nullptr && *env != '\0') return env;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&default_model_path), &info) != 0 && info.dli_fname) {
    for (fs::path dir = fs::path(info.dli_fname).parent_path(); !dir.empty() && dir != dir.root_path();
         dir = dir.parent_path()) {
      const fs::path candidate = dir / "share/cotrack/models" / kDefaultModelName;
      if (fs::exists(candidate)) return candidate.string();
    }
  }
  return std::string(COTRACK_SOURCE_MODELS) + "/" + kDefaultModelName;
}

// Everything that lives from start() to stop().
struct Runtime {
  std::unique_ptr<cotrack::Model> model;
  std::unique_ptr<cotrack::PointTracker> tracker;
  std::unique_ptr<cotrack::FrameRing> ring;
  std::unique_ptr<cotrack::EngineWorker> worker;
  std::unique_ptr<cotrack::TrackWriter> tracks;
  std::unique_ptr<cotrack::Renderer> renderer;
  std::vector<cotrack::PointQuery> initial_points;
  int history_frames = 16;
  bool live = false;
  int64_t offered = 0;
  int64_t reported_drops = 0;
  std::vector<uint8_t> rgb, bgr;
  // The engine thread's progress, for waiting on a frame (pipelines that are not live).
  std::mutex mu;
  std::condition_variable cv;
  int64_t processed = 0;
  bool finished = false;
  std::map<int64_t, GstClockTime> pts_of;  // source frame -> buffer timestamp, until final
};

}  // namespace

G_BEGIN_DECLS
#define GST_TYPE_COTRACK (gst_cotrack_get_type())
G_DECLARE_FINAL_TYPE(GstCotrack, gst_cotrack, GST, COTRACK, GstVideoFilter)
G_END_DECLS

struct _GstCotrack {
  GstVideoFilter parent;
  gchar* model;
  gchar* engine;
  gchar* mode;
  gchar* resolution;
  gchar* points_location;
  gchar* tracks_location;
  gchar* refine;
  gchar* precision;
  gchar* motion_prior;
  gchar* reacquire;
  gint threads;
  gint step;
  gint iters;
  gint grid;
  gint max_points;
  gint trail;
  gboolean draw;
  Runtime* rt;
};

GST_DEBUG_CATEGORY_STATIC(gst_cotrack_debug);
#define GST_CAT_DEFAULT gst_cotrack_debug

G_DEFINE_TYPE(GstCotrack, gst_cotrack, GST_TYPE_VIDEO_FILTER)

enum {
  PROP_0,
  PROP_MODEL,
  PROP_ENGINE,
  PROP_MODE,
  PROP_RESOLUTION,
  PROP_THREADS,
  PROP_GRID,
  PROP_POINTS_LOCATION,
  PROP_MAX_POINTS,
  PROP_DRAW,
  PROP_TRACKS_LOCATION,
  PROP_TRAIL,
  PROP_REFINE,
  PROP_PRECISION,
  PROP_MOTION_PRIOR,
  PROP_REACQUIRE,
  PROP_STEP,
  PROP_ITERS,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE(
    "sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("RGB")));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE(
    "src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE("RGB")));

static void set_string(gchar** field, const GValue* value) {
  g_free(*field);
  *field = g_value_dup_string(value);
}

static void gst_cotrack_set_property(GObject* object, guint id, const GValue* value,
                                     GParamSpec* pspec) {
  GstCotrack* self = GST_COTRACK(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_MODEL: set_string(&self->model, value); break;
    case PROP_ENGINE: set_string(&self->engine, value); break;
    case PROP_MODE: set_string(&self->mode, value); break;
    case PROP_RESOLUTION: set_string(&self->resolution, value); break;
    case PROP_POINTS_LOCATION: set_string(&self->points_location, value); break;
    case PROP_TRACKS_LOCATION: set_string(&self->tracks_location, value); break;
    case PROP_REFINE: set_string(&self->refine, value); break;
    case PROP_PRECISION: set_string(&self->precision, value); break;
    case PROP_MOTION_PRIOR: set_string(&self->motion_prior, value); break;
    case PROP_REACQUIRE: set_string(&self->reacquire, value); break;
    case PROP_THREADS: self->threads = g_value_get_int(value); break;
    case PROP_STEP: self->step = g_value_get_int(value); break;
    case PROP_ITERS: self->iters = g_value_get_int(value); break;
    case PROP_GRID: self->grid = g_value_get_int(value); break;
    case PROP_MAX_POINTS: self->max_points = g_value_get_int(value); break;
    case PROP_TRAIL: self->trail = g_value_get_int(value); break;
    case PROP_DRAW: self->draw = g_value_get_boolean(value); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static void gst_cotrack_get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
  GstCotrack* self = GST_COTRACK(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case PROP_MODEL: g_value_set_string(value, self->model); break;
    case PROP_ENGINE: g_value_set_string(value, self->engine); break;
    case PROP_MODE: g_value_set_string(value, self->mode); break;
    case PROP_RESOLUTION: g_value_set_string(value, self->resolution); break;
    case PROP_POINTS_LOCATION: g_value_set_string(value, self->points_location); break;
    case PROP_TRACKS_LOCATION: g_value_set_string(value, self->tracks_location); break;
    case PROP_REFINE: g_value_set_string(value, self->refine); break;
    case PROP_PRECISION: g_value_set_string(value, self->precision); break;
    case PROP_MOTION_PRIOR: g_value_set_string(value, self->motion_prior); break;
    case PROP_REACQUIRE: g_value_set_string(value, self->reacquire); break;
    case PROP_THREADS: g_value_set_int(value, self->threads); break;
    case PROP_STEP: g_value_set_int(value, self->step); break;
    case PROP_ITERS: g_value_set_int(value, self->iters); break;
    case PROP_GRID: g_value_set_int(value, self->grid); break;
    case PROP_MAX_POINTS: g_value_set_int(value, self->max_points); break;
    case PROP_TRAIL: g_value_set_int(value, self->trail); break;
    case PROP_DRAW: g_value_set_boolean(value, self->draw); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec); break;
  }
  GST_OBJECT_UNLOCK(self);
}

static std::string str(const gchar* s) { return s != nullptr ? s : ""; }

// Builds the tracker the properties ask for. Throws cotrack::Error with one line.
static void make_tracker(GstCotrack* self, Runtime& rt) {
  const std::string engine = str(self->engine);
  if (engine == "lk") {
    cotrack::LKConfig lc;
    lc.max_points = self->max_points;
    lc.trail_frames = self->trail;
    rt.tracker = std::make_unique<cotrack::LKTracker>(lc);
    rt.history_frames = 16;
    return;
  }
  if (engine != "cotrack") {
    throw cotrack::UsageError(fmt::format("engine '{}': expected lk or cotrack", engine));
  }
  cotrack::set_num_threads(self->threads);
  const std::string path = str(self->model).empty() ? default_model_path() : str(self->model);
  if (!std::filesystem::exists(path)) {
    throw cotrack::UsageError(fmt::format("model {}: no such file (set model=FILE or COTRACK_MODEL)",
                                          path));
  }
  rt.model = std::make_unique<cotrack::Model>(cotrack::Model::load(path));
  // As `cotrack live` on a CPU: cotrack's own models at the live resolution, the official
  // weights at their own.
  const std::string res = !str(self->resolution).empty()       ? str(self->resolution)
                          : rt.model->official_semantics() ? std::string()
                                                           : std::string(cotrack::kLiveCpuResolution);
  if (!res.empty()) {
    int h = 0, w = 0;
    char x = 0;
    if (std::sscanf(res.c_str(), "%d%c%d", &h, &x, &w) != 3 || x != 'x' || h < 32 || w < 32) {
      throw cotrack::UsageError(fmt::format("resolution '{}': expected HxW, e.g. 192x256", res));
    }
    rt.model->set_resolution(h, w);
  }
  cotrack::EngineConfig ec;
  const std::string mode = str(self->mode);
  if (mode == "low-latency") {
    ec.mode = cotrack::EngineMode::kLowLatency;
    ec.step = self->step > 0 ? self->step : cotrack::kLiveStep;
    ec.iters = self->iters > 0 ? self->iters : cotrack::kLiveIters;
  } else if (mode == "exact") {
    const int model_step = rt.model->config().step();
    if (self->step > 0 && self->step != model_step) {
      throw cotrack::UsageError(fmt::format(
          "step {}: exact mode runs a window every {} frames (the model's step)", self->step,
          model_step));
    }
    ec.iters = self->iters;
  } else {
    throw cotrack::UsageError(fmt::format("mode '{}': expected exact or low-latency", mode));
  }
  ec.max_points = self->max_points;
  ec.trail_frames = self->trail;
  ec.visibility_threshold = rt.model->default_visibility_threshold();
  ec.confidence_weight = rt.model->default_confidence_weight();
  ec.precision = cotrack::resolve_precision(str(self->precision), *rt.model);
  ec.motion_prior = cotrack::resolve_motion_prior(str(self->motion_prior), *rt.model);
  ec.reacquire = cotrack::resolve_reacquire(str(self->reacquire), *rt.model);
  ec.validate();
  const std::string refine = str(self->refine);
  if (refine != "auto" && refine != "on" && refine != "off") {
    throw cotrack::UsageError(fmt::format("refine '{}': expected auto, on or off", refine));
  }
  rt.tracker = cotrack::refine_as(
      refine, std::make_unique<cotrack::OnlineEngine>(*rt.model, ec), *rt.model);
  rt.history_frames = 2 * rt.model->config().window_len + 8;
}

static gboolean gst_cotrack_start(GstBaseTransform* trans) {
  GstCotrack* self = GST_COTRACK(trans);
  auto rt = std::make_unique<Runtime>();
  try {
    make_tracker(self, *rt);
    if (!str(self->points_location).empty()) {
      rt->initial_points = cotrack::read_points_csv(str(self->points_location));
    }
    if (!str(self->tracks_location).empty()) {
      rt->tracks = std::make_unique<cotrack::TrackWriter>(str(self->tracks_location));
    }
    if (self->grid < 0 || self->grid > 64) throw cotrack::UsageError("grid: expected 0..64");
    cotrack::RenderConfig rc;
    rc.trail_frames = self->trail;
    rc.show_hud = false;
    rt->renderer = std::make_unique<cotrack::Renderer>(rc);
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("cotrack: %s", e.what()), (nullptr));
    return FALSE;
  }
  self->rt = rt.release();
  return TRUE;
}

static void finish_engine(GstCotrack* self) {
  Runtime* rt = self->rt;
  if (rt == nullptr || !rt->worker) return;
  rt->worker->end_of_stream();
  rt->worker->stop(/*flush=*/true);
  const std::string error = rt->worker->error();
  rt->worker.reset();
  try {
    if (rt->tracks) rt->tracks->close();
  } catch (const std::exception& e) {
    GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("cotrack: %s", e.what()), (nullptr));
  }
  if (!error.empty()) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("cotrack engine: %s", error.c_str()), (nullptr));
  }
}

static gboolean gst_cotrack_stop(GstBaseTransform* trans) {
  GstCotrack* self = GST_COTRACK(trans);
  if (self->rt != nullptr && self->rt->worker) {
    self->rt->worker->stop(/*flush=*/false);  // a stop without EOS: whatever was final is written
    self->rt->worker.reset();
  }
  delete self->rt;
  self->rt = nullptr;
  return TRUE;
}

// The final estimates of one frame (engine thread): the track file and a bus message.
static void on_final(GstCotrack* self, const cotrack::FinalFrame& f) {
  Runtime& rt = *self->rt;
  if (rt.tracks) rt.tracks->write(f.estimates);
  GstClockTime pts = GST_CLOCK_TIME_NONE;
  {
    std::lock_guard<std::mutex> lock(rt.mu);
    auto it = rt.pts_of.find(f.seq);
    if (it != rt.pts_of.end()) pts = it->second;
    rt.pts_of.erase(rt.pts_of.begin(), rt.pts_of.upper_bound(f.seq));
  }
  const std::string row = cotrack::tracks_jsonl_row(f.estimates);
  GstStructure* s = gst_structure_new("cotrack-tracks", "frame", G_TYPE_INT64, f.seq, "timestamp",
                                      G_TYPE_UINT64, pts, "points", G_TYPE_UINT,
                                      static_cast<guint>(f.estimates.points.size()), "json",
                                      G_TYPE_STRING, row.c_str(), nullptr);
  gst_element_post_message(GST_ELEMENT(self), gst_message_new_element(GST_OBJECT(self), s));
}

// Whether the upstream pipeline is live (a camera, RTSP, is-live=true).
static bool upstream_is_live(GstCotrack* self) {
  GstQuery* q = gst_query_new_latency();
  gboolean live = FALSE;
  if (gst_pad_peer_query(GST_BASE_TRANSFORM_SINK_PAD(self), q)) {
    gst_query_parse_latency(q, &live, nullptr, nullptr);
  }
  gst_query_unref(q);
  return live;
}

static void start_engine(GstCotrack* self) {
  Runtime& rt = *self->rt;
  rt.live = upstream_is_live(self);
  cotrack::RingConfig rc;
  rc.policy = rt.live ? cotrack::DropPolicy::kThin : cotrack::DropPolicy::kNone;
  rt.ring = std::make_unique<cotrack::FrameRing>(rc);
  cotrack::WorkerConfig wc;
  wc.history_frames = rt.history_frames;
  wc.trail_frames = self->trail;
  rt.worker = std::make_unique<cotrack::EngineWorker>(
      *rt.tracker, *rt.ring, wc, [self](const cotrack::FinalFrame& f) { on_final(self, f); });
  rt.worker->set_on_view([&rt](const cotrack::LiveView& v) {
    std::lock_guard<std::mutex> lock(rt.mu);
    rt.processed = v.counters.processed;
    rt.cv.notify_all();
  });
  for (const auto& q : rt.initial_points) {
    cotrack::LiveCommand c{cotrack::LiveCommand::Kind::kAddPoint};
    c.frame = q.frame;
    c.x_px = q.x_px;
    c.y_px = q.y_px;
    rt.worker->post(c);
  }
  if (self->grid > 0) {
    cotrack::LiveCommand c{cotrack::LiveCommand::Kind::kGrid};
    c.grid = self->grid;
    rt.worker->post(c);
  }
  rt.worker->start();
  GST_INFO_OBJECT(self, "engine %s, %s pipeline: %s", self->engine, rt.live ? "live" : "not live",
                  rt.live ? "frames are thinned when the engine falls behind"
                          : "every frame is tracked");
}

// The snapshot's newest estimate of every point, as one frame's estimates.
static cotrack::FrameEstimates newest_estimates(const cotrack::LiveView& v) {
  cotrack::FrameEstimates fe;
  fe.frame_index = v.seq;
  if (!v.tracks) return fe;
  for (const auto& t : v.tracks->tracks) {
    if (!t.estimates.empty()) fe.points.push_back(t.estimates.back());
  }
  return fe;
}

static GstFlowReturn gst_cotrack_transform_frame_ip(GstVideoFilter* filter, GstVideoFrame* frame) {
  GstCotrack* self = GST_COTRACK(filter);
  Runtime& rt = *self->rt;
  const int width = GST_VIDEO_FRAME_WIDTH(frame), height = GST_VIDEO_FRAME_HEIGHT(frame);
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  auto* pixels = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
  if (!rt.worker) start_engine(self);
  if (!rt.worker->error().empty() || rt.worker->finished()) {
    GST_ELEMENT_ERROR(self, STREAM, FAILED, ("cotrack engine: %s", rt.worker->error().c_str()),
                      (nullptr));
    return GST_FLOW_ERROR;
  }
  const int64_t seq = rt.offered;
  {
    std::lock_guard<std::mutex> lock(rt.mu);
    rt.pts_of[seq] = GST_BUFFER_PTS(frame->buffer);
  }
  const int64_t now = g_get_monotonic_time() * 1000;
  if (rt.live) {
    rt.ring->offer(pixels, width, height, stride, seq, now);
  } else {
    // Not live: wait for a free slot, then for the frame to be tracked.
    while (rt.ring->offer(pixels, width, height, stride, seq, now) ==
           cotrack::FrameRing::Offer::kRefused) {
      if (rt.worker->finished()) return GST_FLOW_ERROR;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  ++rt.offered;
  if (!rt.live) {
    std::unique_lock<std::mutex> lock(rt.mu);
    rt.cv.wait_for(lock, std::chrono::seconds(60), [&] {
      return rt.processed >= rt.offered || rt.worker->finished();
    });
  }
  const auto view = rt.worker->latest();
  const cotrack::FrameEstimates newest = newest_estimates(*view);
  // The drops since the last report, as QoS: the engine fell behind a live source.
  const int64_t dropped = view->counters.dropped();
  if (dropped > rt.reported_drops) {
    GstMessage* qos = gst_message_new_qos(
        GST_OBJECT(self), TRUE, GST_CLOCK_TIME_NONE, GST_CLOCK_TIME_NONE,
        GST_BUFFER_PTS(frame->buffer), GST_BUFFER_DURATION(frame->buffer));
    gst_message_set_qos_stats(qos, GST_FORMAT_BUFFERS, static_cast<guint64>(view->counters.processed),
                              static_cast<guint64>(dropped));
    gst_element_post_message(GST_ELEMENT(self), qos);
    rt.reported_drops = dropped;
  }
  // The estimates leave with the buffer.
  GstCustomMeta* meta = gst_buffer_add_custom_meta(frame->buffer, kMetaName);
  if (meta != nullptr) {
    GstStructure* s = gst_custom_meta_get_structure(meta);
    gst_structure_set(s, "frame", G_TYPE_INT64, view->seq, "json", G_TYPE_STRING,
                      cotrack::tracks_jsonl_row(newest).c_str(), nullptr);
  }
  if (self->draw && view->tracks && !view->tracks->tracks.empty()) {
    rt.rgb.resize(static_cast<size_t>(width) * height * 3);
    for (int y = 0; y < height; ++y) {
      std::memcpy(rt.rgb.data() + static_cast<size_t>(y) * width * 3,
                  pixels + static_cast<size_t>(y) * stride, static_cast<size_t>(width) * 3);
    }
    rt.renderer->draw(rt.rgb.data(), width, height, *view->tracks, view->frame_index,
                      cotrack::HudStats{}, rt.bgr);
    for (int y = 0; y < height; ++y) {
      const uint8_t* src = rt.bgr.data() + static_cast<size_t>(y) * width * 3;
      uint8_t* dst = pixels + static_cast<size_t>(y) * stride;
      for (int x = 0; x < width; ++x) {
        dst[3 * x] = src[3 * x + 2];
        dst[3 * x + 1] = src[3 * x + 1];
        dst[3 * x + 2] = src[3 * x];
      }
    }
  }
  return GST_FLOW_OK;
}

static gboolean gst_cotrack_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstCotrack* self = GST_COTRACK(trans);
  if (GST_EVENT_TYPE(event) == GST_EVENT_EOS && self->rt != nullptr) {
    finish_engine(self);  // every frame's final estimates reach the file and the bus first
  }
  return GST_BASE_TRANSFORM_CLASS(gst_cotrack_parent_class)->sink_event(trans, event);
}

// Posts a command and waits for the engine thread's answer (at most 3 s).
static bool ask(GstCotrack* self, cotrack::LiveCommand c, cotrack::CommandResult& out) {
  GST_OBJECT_LOCK(self);
  Runtime* rt = self->rt;
  const bool running = rt != nullptr && rt->worker && !rt->worker->finished();
  GST_OBJECT_UNLOCK(self);
  if (!running) {
    GST_WARNING_OBJECT(self, "no frame tracked yet: the command is refused");
    return false;
  }
  auto promise = std::make_shared<std::promise<cotrack::CommandResult>>();
  auto future = promise->get_future();
  c.done = [promise](const cotrack::CommandResult& r) { promise->set_value(r); };
  rt->worker->post(c);
  if (future.wait_for(std::chrono::seconds(3)) != std::future_status::ready) return false;
  out = future.get();
  if (out.status != cotrack::CommandResult::Status::kOk) {
    GST_WARNING_OBJECT(self, "%s", out.message.c_str());
    return false;
  }
  return true;
}

static gint64 gst_cotrack_add_point(GstCotrack* self, gfloat x, gfloat y) {
  cotrack::LiveCommand c{cotrack::LiveCommand::Kind::kAddPoint};
  c.x_px = x;
  c.y_px = y;
  cotrack::CommandResult r;
  return ask(self, c, r) ? r.id : -1;
}

static gboolean gst_cotrack_remove_point(GstCotrack* self, gint64 id) {
  cotrack::LiveCommand c{cotrack::LiveCommand::Kind::kRemovePoint};
  c.id = id;
  cotrack::CommandResult r;
  return ask(self, c, r);
}

static void gst_cotrack_clear(GstCotrack* self) {
  cotrack::CommandResult r;
  ask(self, cotrack::LiveCommand{cotrack::LiveCommand::Kind::kClear}, r);
}

static void gst_cotrack_finalize(GObject* object) {
  GstCotrack* self = GST_COTRACK(object);
  for (gchar* s : {self->model, self->engine, self->mode, self->resolution, self->points_location,
                   self->tracks_location, self->refine, self->precision, self->motion_prior,
                   self->reacquire}) {
    g_free(s);
  }
  delete self->rt;
  G_OBJECT_CLASS(gst_cotrack_parent_class)->finalize(object);
}

static void gst_cotrack_class_init(GstCotrackClass* klass) {
  GObjectClass* gobject = G_OBJECT_CLASS(klass);
  GstElementClass* element = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* base = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter = GST_VIDEO_FILTER_CLASS(klass);
  gobject->set_property = gst_cotrack_set_property;
  gobject->get_property = gst_cotrack_get_property;
  gobject->finalize = gst_cotrack_finalize;
  const auto flags = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
                                              GST_PARAM_MUTABLE_READY);
  g_object_class_install_property(
      gobject, PROP_MODEL,
      g_param_spec_string("model", "Model",
                          "engine=cotrack: a cotrack model, cotrack-train checkpoint or official "
                          "scaled_online.pth (empty: $COTRACK_MODEL, else the shipped model)",
                          "", flags));
  g_object_class_install_property(
      gobject, PROP_ENGINE,
      g_param_spec_string("engine", "Engine",
                          "cotrack (the network) or lk (Lucas-Kanade: no model, least CPU)",
                          "cotrack", flags));
  g_object_class_install_property(
      gobject, PROP_MODE,
      g_param_spec_string("mode", "Mode",
                          "engine=cotrack: exact (the official online semantics) or low-latency "
                          "(an estimate for every frame as it arrives)",
                          "low-latency", flags));
  g_object_class_install_property(
      gobject, PROP_RESOLUTION,
      g_param_spec_string("resolution", "Resolution",
                          "engine=cotrack: the model's input size HxW (empty: 128x128 for "
                          "cotrack's own models, as cotrack live on a CPU; the official weights' "
                          "own)",
                          "", flags));
  g_object_class_install_property(
      gobject, PROP_STEP,
      g_param_spec_int("step", "Step",
                       "engine=cotrack, low-latency mode: frames between windows (0: 2, as cotrack "
                       "live); exact mode: the model's step only",
                       0, 64, 0, flags));
  g_object_class_install_property(
      gobject, PROP_ITERS,
      g_param_spec_int("iters", "Iterations",
                       "engine=cotrack: refinement iterations per window (0: 1 in low-latency "
                       "mode, as cotrack live; the model's in exact mode)",
                       0, 64, 0, flags));
  g_object_class_install_property(
      gobject, PROP_THREADS,
      g_param_spec_int("threads", "Threads", "engine=cotrack: CPU threads (0: all cores)", 0, 256,
                       1, flags));
  g_object_class_install_property(
      gobject, PROP_GRID,
      g_param_spec_int("grid", "Grid", "an N x N grid of points on the first frame (0: none)", 0,
                       64, 0, flags));
  g_object_class_install_property(
      gobject, PROP_POINTS_LOCATION,
      g_param_spec_string("points-location", "Points file",
                          "a points.csv (frame,x,y) to track from the start", "", flags));
  g_object_class_install_property(
      gobject, PROP_MAX_POINTS,
      g_param_spec_int("max-points", "Max points", "points tracked at once", 1, 4096, 256, flags));
  g_object_class_install_property(
      gobject, PROP_DRAW,
      g_param_spec_boolean("draw", "Draw",
                           "draw markers and trails on the buffers (false: pass them unchanged, "
                           "with the estimates only in the meta and on the bus)",
                           TRUE, flags));
  g_object_class_install_property(
      gobject, PROP_TRACKS_LOCATION,
      g_param_spec_string("tracks-location", "Tracks file",
                          "write the final estimates to this tracks.csv or .jsonl", "", flags));
  g_object_class_install_property(
      gobject, PROP_TRAIL,
      g_param_spec_int("trail", "Trail", "trail length in frames", 0, 4096, 32, flags));
  g_object_class_install_property(
      gobject, PROP_REFINE,
      g_param_spec_string("refine", "Refine",
                          "engine=cotrack: Lucas-Kanade at full resolution refines the network's "
                          "estimates: on, off or auto (cotrack's own models, on video of at least "
                          "3x the model input's pixels)",
                          "auto", flags));
  g_object_class_install_property(
      gobject, PROP_PRECISION,
      g_param_spec_string("precision", "Precision",
                          "engine=cotrack: the network's arithmetic: fp32, bf16 (CPUs with bf16 "
                          "instructions, CUDA) or auto (bf16 where supported, except for the "
                          "official weights: fp32)",
                          "auto", flags));
  g_object_class_install_property(
      gobject, PROP_MOTION_PRIOR,
      g_param_spec_string("motion-prior", "Motion prior",
                          "engine=cotrack: new frames start each visible point where its "
                          "neighbourhood moved (pans, fast objects): on, off or auto (cotrack's "
                          "own models; the official weights keep the official semantics)",
                          "auto", flags));
  g_object_class_install_property(
      gobject, PROP_REACQUIRE,
      g_param_spec_string("reacquire", "Reacquire",
                          "engine=cotrack: a point that no longer looks like its query, while one "
                          "place of the frame clearly does, continues from there: on, off or auto "
                          "(cotrack's own models; the official weights keep the official "
                          "semantics)",
                          "auto", flags));

  g_signal_new_class_handler("add-point", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(gst_cotrack_add_point), nullptr, nullptr, nullptr,
                             G_TYPE_INT64, 2, G_TYPE_FLOAT, G_TYPE_FLOAT);
  g_signal_new_class_handler("remove-point", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(gst_cotrack_remove_point), nullptr, nullptr, nullptr,
                             G_TYPE_BOOLEAN, 1, G_TYPE_INT64);
  g_signal_new_class_handler("clear", G_TYPE_FROM_CLASS(klass),
                             static_cast<GSignalFlags>(G_SIGNAL_RUN_LAST | G_SIGNAL_ACTION),
                             G_CALLBACK(gst_cotrack_clear), nullptr, nullptr, nullptr,
                             G_TYPE_NONE, 0);

  gst_element_class_set_static_metadata(
      element, "cotrack point tracker", "Filter/Analyzer/Video",
      "Tracks points through video with CoTracker-style models or Lucas-Kanade. Signals: "
      "add-point(x, y) -> id (-1: refused), remove-point(id) -> ok, clear(). Each buffer "
      "carries the newest estimates in a CotrackTracksMeta (frame, json); each final frame is "
      "posted as an element message cotrack-tracks (frame, timestamp, points, json)",
      "the cotrack authors");
  gst_element_class_add_static_pad_template(element, &sink_template);
  gst_element_class_add_static_pad_template(element, &src_template);
  base->start = gst_cotrack_start;
  base->stop = gst_cotrack_stop;
  base->sink_event = gst_cotrack_sink_event;
  filter->transform_frame_ip = gst_cotrack_transform_frame_ip;

  static const gchar* tags[] = {nullptr};
  gst_meta_register_custom(kMetaName, tags, nullptr, nullptr, nullptr);
}

static void gst_cotrack_init(GstCotrack* self) {
  self->model = g_strdup("");
  self->engine = g_strdup("cotrack");
  self->mode = g_strdup("low-latency");
  self->resolution = g_strdup("");
  self->points_location = g_strdup("");
  self->tracks_location = g_strdup("");
  self->refine = g_strdup("auto");
  self->precision = g_strdup("auto");
  self->motion_prior = g_strdup("auto");
  self->reacquire = g_strdup("auto");
  self->threads = 1;
  self->step = 0;
  self->iters = 0;
  self->grid = 0;
  self->max_points = 256;
  self->trail = 32;
  self->draw = TRUE;
  self->rt = nullptr;
}

static gboolean plugin_init(GstPlugin* plugin) {
  GST_DEBUG_CATEGORY_INIT(gst_cotrack_debug, "cotrack", 0, "cotrack point tracker");
  return gst_element_register(plugin, "cotrack", GST_RANK_NONE, GST_TYPE_COTRACK);
}

#define PACKAGE "cotrack"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, cotrack,
                  "Point tracking with CoTracker-style models", plugin_init, COTRACK_VERSION,
                  "Apache-2.0", "cotrack", "Unknown package origin")
