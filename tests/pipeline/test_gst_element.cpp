// The GStreamer element from a program: the estimates on every buffer (CotrackTracksMeta), a bus
// message per final frame, and points added and removed through the action signals. The
// element's pipelines from the command line are tests/gst/test_gst.sh.
#include <doctest/doctest.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <string>

TEST_CASE("gst element: meta on every buffer, a bus message per frame, add-point and remove-point") {
  gst_init(nullptr, nullptr);
  GError* error = nullptr;
  GstPlugin* plugin = gst_plugin_load_file(COTRACK_GST_PLUGIN_FILE, &error);
  REQUIRE_MESSAGE(plugin != nullptr, (error ? error->message : "no plugin"));
  gst_object_unref(plugin);
  GstElement* pipeline = gst_parse_launch(
      "videotestsrc num-buffers=40 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
      "! cotrack name=t ! appsink name=sink sync=false",
      &error);
  REQUIRE_MESSAGE(pipeline != nullptr, (error ? error->message : "no pipeline"));
  GstElement* tracker = gst_bin_get_by_name(GST_BIN(pipeline), "t");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  REQUIRE(gst_element_set_state(pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);

  int samples = 0, with_meta = 0, with_point = 0;
  gint64 id = -2, refused = -2;
  gboolean removed = FALSE, removed_again = TRUE;
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    if (GstCustomMeta* meta = gst_buffer_get_custom_meta(buffer, "CotrackTracksMeta")) {
      ++with_meta;
      const GstStructure* s = gst_custom_meta_get_structure(meta);
      const std::string json = gst_structure_get_string(s, "json");
      if (id >= 0 && json.find("\"id\":" + std::to_string(id) + ",") != std::string::npos) {
        ++with_point;
      }
    }
    gst_sample_unref(sample);
    ++samples;
    if (samples == 2) {
      g_signal_emit_by_name(tracker, "add-point", 160.f, 120.f, &id);
      g_signal_emit_by_name(tracker, "add-point", 1000.f, 10.f, &refused);
    }
    if (samples == 30) {
      g_signal_emit_by_name(tracker, "remove-point", id, &removed);
      g_signal_emit_by_name(tracker, "remove-point", id, &removed_again);
    }
  }
  CHECK(samples == 40);
  CHECK(with_meta == 40);
  CHECK(id == 0);
  CHECK(refused == -1);  // outside the 320x240 picture
  CHECK(removed);
  CHECK_FALSE(removed_again);
  CHECK(with_point >= 25);  // from the frame after the click until its removal

  // The bus: one cotrack-tracks message per frame, in order, then EOS.
  GstBus* bus = gst_element_get_bus(pipeline);
  int messages = 0;
  int64_t last_frame = -1;
  bool ordered = true;
  while (GstMessage* m = gst_bus_timed_pop_filtered(
             bus, 5 * GST_SECOND,
             static_cast<GstMessageType>(GST_MESSAGE_ELEMENT | GST_MESSAGE_EOS | GST_MESSAGE_ERROR))) {
    const bool end = GST_MESSAGE_TYPE(m) != GST_MESSAGE_ELEMENT;
    if (!end && gst_message_has_name(m, "cotrack-tracks")) {
      gint64 frame = -1;
      gst_structure_get_int64(gst_message_get_structure(m), "frame", &frame);
      ordered = ordered && frame == last_frame + 1;
      last_frame = frame;
      ++messages;
    }
    gst_message_unref(m);
    if (end) break;
  }
  CHECK(messages == 40);
  CHECK(ordered);
  gst_object_unref(bus);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(tracker);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}
