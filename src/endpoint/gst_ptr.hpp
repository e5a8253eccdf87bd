#pragma once
// RAII for the GLib/GStreamer C objects the endpoint touches. Internal header (not part of the public API).
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/webrtc/webrtc.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

namespace chorus::endpoint {

// Calls Fn(p) for a non-null p; Fn is the C "unref"/"free" of the type.
template <auto Fn>
struct CallFn {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) Fn(p);
  }
};

inline void unrefObject(gpointer p) {
  g_object_unref(p);
}
inline void unrefCaps(GstCaps* c) {
  gst_caps_unref(c);
}
inline void unrefPromise(GstPromise* p) {
  gst_promise_unref(p);
}
inline void freeSdpMessage(GstSDPMessage* m) {
  gst_sdp_message_free(m);
}

// A strong reference to any GObject (GstElement, GstPad, GstWebRTCRTPTransceiver, ...).
template <typename T>
using GObjectPtr = std::unique_ptr<T, CallFn<unrefObject>>;
using ElementPtr = GObjectPtr<GstElement>;
using PadPtr = GObjectPtr<GstPad>;
using CapsPtr = std::unique_ptr<GstCaps, CallFn<unrefCaps>>;
using StructurePtr = std::unique_ptr<GstStructure, CallFn<gst_structure_free>>;
using PromisePtr = std::unique_ptr<GstPromise, CallFn<unrefPromise>>;
using SdpMessagePtr = std::unique_ptr<GstSDPMessage, CallFn<freeSdpMessage>>;
using SessionDescriptionPtr =
    std::unique_ptr<GstWebRTCSessionDescription, CallFn<gst_webrtc_session_description_free>>;
using GErrorPtr = std::unique_ptr<GError, CallFn<g_error_free>>;
using GCharPtr = std::unique_ptr<gchar, CallFn<g_free>>;

// Takes ownership of a (possibly floating) new GObject reference: sinks the floating ref.
template <typename T>
GObjectPtr<T> adoptSink(T* p) {
  if (p != nullptr) g_object_ref_sink(p);
  return GObjectPtr<T>(p);
}
// Adds a reference to a borrowed object.
template <typename T>
GObjectPtr<T> addRef(T* p) {
  if (p != nullptr) g_object_ref(p);
  return GObjectPtr<T>(p);
}

inline std::string takeString(gchar* s) {
  GCharPtr owned(s);
  return s != nullptr ? std::string(s) : std::string();
}

// gst_element_factory_make + string-valued properties (parsed by the property's type, enums by nick).
inline GstElement* makeElement(const char* factory, const std::string& name,
                               std::initializer_list<std::pair<const char*, std::string>> props = {}) {
  GstElement* e = gst_element_factory_make(factory, name.empty() ? nullptr : name.c_str());
  if (e == nullptr) return nullptr;
  for (const auto& [key, value] : props) gst_util_set_object_arg(G_OBJECT(e), key, value.c_str());
  return e;
}

}  // namespace chorus::endpoint
