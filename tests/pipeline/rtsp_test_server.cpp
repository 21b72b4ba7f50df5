#include "rtsp_test_server.hpp"

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace cotrack::testing {

// GLib objects are created by start() on the calling thread, used by the server thread while it
// runs, and released by stop() after the thread has ended.
struct RtspTestServer::Impl {
  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  GstRTSPServer* server = nullptr;
  GSource* listener = nullptr;  // the listening socket's source; destroying it closes the socket
  std::thread thread;
  int port = 0;
  std::string launch = kDefaultLaunch;
  std::string mount = "/test";
  // Shared with the signal handlers, which may outlive this object by a little: a client is
  // finalised when its last reference goes, which need not be before stop() returns.
  std::shared_ptr<std::atomic<int>> clients = std::make_shared<std::atomic<int>>(0);
  bool sync = true;

  using Counter = std::shared_ptr<std::atomic<int>>;
  static void drop_counter(gpointer counter, GClosure*) { delete static_cast<Counter*>(counter); }

  static void on_client_closed(GstRTSPClient*, gpointer counter) {
    (*static_cast<Counter*>(counter))->fetch_sub(1);
  }

  static void on_client_connected(GstRTSPServer*, GstRTSPClient* client, gpointer counter) {
    const Counter& count = *static_cast<Counter*>(counter);
    count->fetch_add(1);
    g_signal_connect_data(client, "closed", G_CALLBACK(&Impl::on_client_closed), new Counter(count),
                          &Impl::drop_counter, GConnectFlags{});
  }

  // set_sync(false): once a media plays, its network sinks (made during prepare) stop syncing.
  static void on_media_state(GstRTSPMedia* media, gint state, gpointer) {
    if (state != GST_STATE_PLAYING) return;
    GstElement* element = gst_rtsp_media_get_element(media);
    GstObject* pipeline = gst_object_get_parent(GST_OBJECT(element));
    gst_object_unref(element);
    if (!pipeline) return;
    GstIterator* it = gst_bin_iterate_sinks(GST_BIN(pipeline));
    GValue item = G_VALUE_INIT;
    while (gst_iterator_next(it, &item) == GST_ITERATOR_OK) {
      GObject* sink = G_OBJECT(g_value_get_object(&item));
      if (g_object_class_find_property(G_OBJECT_GET_CLASS(sink), "sync"))
        g_object_set(sink, "sync", FALSE, nullptr);
      g_value_reset(&item);
    }
    g_value_unset(&item);
    gst_iterator_free(it);
    gst_object_unref(pipeline);
  }

  static void on_media_configure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer) {
    g_signal_connect(media, "new-state", G_CALLBACK(&Impl::on_media_state), nullptr);
  }

  static GstRTSPFilterResult remove_client(GstRTSPServer*, GstRTSPClient*, gpointer) {
    return GST_RTSP_FILTER_REMOVE;  // gst_rtsp_client_close: the connection drops
  }

  static GstRTSPFilterResult remove_session(GstRTSPSessionPool*, GstRTSPSession*, gpointer) {
    return GST_RTSP_FILTER_REMOVE;  // unprepares the session's media
  }

  // Runs on the server thread: drop clients and sessions, close the socket, end the loop.
  static gboolean shut_down(gpointer user) {
    Impl* self = static_cast<Impl*>(user);
    GList* kept = gst_rtsp_server_client_filter(self->server, &Impl::remove_client, nullptr);
    g_list_free_full(kept, g_object_unref);
    GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(self->server);
    if (pool) {
      GList* sessions = gst_rtsp_session_pool_filter(pool, &Impl::remove_session, nullptr);
      g_list_free_full(sessions, g_object_unref);
      g_object_unref(pool);
    }
    g_source_destroy(self->listener);
    g_main_loop_quit(self->loop);
    return G_SOURCE_REMOVE;
  }

  void release() {
    if (listener) g_source_unref(listener);
    if (server) g_object_unref(server);
    if (loop) g_main_loop_unref(loop);
    if (context) g_main_context_unref(context);
    listener = nullptr;
    server = nullptr;
    loop = nullptr;
    context = nullptr;
  }
};

RtspTestServer::RtspTestServer() : impl_(std::make_unique<Impl>()) {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
}

RtspTestServer::~RtspTestServer() { stop(); }

void RtspTestServer::start(int port, const std::string& launch, const std::string& mount) {
  Impl& s = *impl_;
  if (s.thread.joinable()) throw std::runtime_error("RtspTestServer: already running");
  s.launch = launch;
  s.mount = mount;
  s.context = g_main_context_new();
  s.loop = g_main_loop_new(s.context, FALSE);
  s.server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(s.server, "127.0.0.1");
  gst_rtsp_server_set_service(s.server, std::to_string(port).c_str());
  s.clients = std::make_shared<std::atomic<int>>(0);
  g_signal_connect_data(s.server, "client-connected", G_CALLBACK(&Impl::on_client_connected),
                        new Impl::Counter(s.clients), &Impl::drop_counter, GConnectFlags{});
  // No client threads: clients live in this server's context, so stop() closes them on its
  // thread before it returns. (Each media still runs its own pipeline thread.)
  GstRTSPThreadPool* threads = gst_rtsp_server_get_thread_pool(s.server);
  gst_rtsp_thread_pool_set_max_threads(threads, 0);
  g_object_unref(threads);

  GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(s.server);
  GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory, launch.c_str());
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  if (!s.sync)
    g_signal_connect(factory, "media-configure", G_CALLBACK(&Impl::on_media_configure), nullptr);
  gst_rtsp_mount_points_add_factory(mounts, mount.c_str(), factory);  // takes the factory
  g_object_unref(mounts);

  GError* err = nullptr;
  s.listener = gst_rtsp_server_create_source(s.server, nullptr, &err);
  if (!s.listener) {
    const std::string msg = err ? err->message : "unknown error";
    g_clear_error(&err);
    s.release();
    throw std::runtime_error("RtspTestServer: cannot listen on 127.0.0.1:" + std::to_string(port) +
                             ": " + msg);
  }
  g_source_attach(s.listener, s.context);
  s.port = gst_rtsp_server_get_bound_port(s.server);

  // Clients attach to the thread-default context of the thread that accepts them: this one.
  std::mutex mu;
  std::condition_variable cv;
  bool running = false;
  s.thread = std::thread([&s, &mu, &cv, &running] {
    g_main_context_push_thread_default(s.context);
    {
      std::lock_guard<std::mutex> lock(mu);
      running = true;
    }
    cv.notify_all();
    g_main_loop_run(s.loop);
    g_main_context_pop_thread_default(s.context);
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&running] { return running; });
}

void RtspTestServer::set_sync(bool sync) { impl_->sync = sync; }

void RtspTestServer::restart() { start(impl_->port, impl_->launch, impl_->mount); }

void RtspTestServer::stop() {
  Impl& s = *impl_;
  if (!s.thread.joinable()) return;
  GSource* idle = g_idle_source_new();
  g_source_set_callback(idle, &Impl::shut_down, &s, nullptr);
  g_source_attach(idle, s.context);
  g_source_unref(idle);
  s.thread.join();
  s.release();
}

bool RtspTestServer::running() const { return impl_->thread.joinable(); }
int RtspTestServer::port() const { return impl_->port; }

std::string RtspTestServer::url() const {
  return "rtsp://127.0.0.1:" + std::to_string(impl_->port) + impl_->mount;
}

int RtspTestServer::clients() const { return impl_->clients->load(); }

}  // namespace cotrack::testing
