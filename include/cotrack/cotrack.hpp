// cotrack: one include for programs that track points with the library (torch-free header; link
// the cotrack_core target, which brings LibTorch in at link time).
//
//   #include <cotrack/cotrack.hpp>
//
//   cotrack::Model model = cotrack::Model::load("models/training/cotrack-small-v1.ckpt");
//   cotrack::EngineConfig config;                         // exact mode, the official semantics
//   config.visibility_threshold = model.default_visibility_threshold();
//   cotrack::OnlineEngine engine(model, config);
//   engine.set_sink([](const cotrack::FrameEstimates& f) {  // final estimates, in frame order
//     for (const auto& p : f.points) std::printf("%lld %lld %.1f %.1f %d\n",
//         (long long)f.frame_index, (long long)p.id, p.x_px, p.y_px, p.visible);
//   });
//   for (each RGB frame) {
//     const int64_t t = engine.push_frame(rgb, width, height);
//     if (t == 0) engine.add_point(0, 120.f, 80.f);        // a point clicked on the first frame
//     engine.step();                                      // runs a window when one is due
//   }
//   engine.flush();                                       // finalises the last frames
//
// Every tracker (the engine, and in the OpenCV build the Lucas-Kanade baseline) implements
// cotrack::PointTracker (tracker.hpp); errors are cotrack::Error subclasses (error.hpp).
#pragma once

#include "cotrack/engine.hpp"
#include "cotrack/error.hpp"
#include "cotrack/model.hpp"
#include "cotrack/model_config.hpp"
#include "cotrack/runtime.hpp"
#include "cotrack/track.hpp"
#include "cotrack/track_io.hpp"
#include "cotrack/tracker.hpp"
#include "cotrack/video.hpp"
