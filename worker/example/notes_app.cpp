// The notes app's handlers: see main.cpp for how to run it and notes_app_test.cpp for
// its tests.

#include "notes_app.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>
#include <sstream>

#include "corral/json.hpp"
#include "corral/log.hpp"
#include "corral/offload.hpp"
#include "corral/websocket.hpp"

namespace notes {
namespace {

namespace asio = boost::asio;
using corral::request;
using corral::response;

boost::json::object note_json(long id, const std::string& text) {
    return {{"id", id}, {"text", text}};
}

std::optional<long> note_id(const request& req) {
    try {
        return std::stol(std::string(*req.path_parameter("id")));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

asio::awaitable<response> list_notes(note_store& store, request&) {
    boost::json::array all;
    for (const auto& [id, text] : store.notes) all.push_back(note_json(id, text));
    co_return corral::json(all);
}

asio::awaitable<response> create_note(note_store& store, request& req) {
    boost::system::error_code ec;
    auto body = boost::json::parse(req.body, ec);
    const auto* text = !ec && body.is_object() ? body.as_object().if_contains("text") : nullptr;
    if (!text || !text->is_string())
        co_return response::text("send a JSON object with a \"text\" string\n", 422);
    long id = store.next_id++;
    store.notes[id] = text->as_string().c_str();
    // Work the client need not wait for runs after the response is sent (a search index,
    // an email); a graceful stop waits for it.
    auto index = [&store, id]() -> asio::awaitable<void> {
        ++store.indexed;
        corral::log::debug("Indexed note {}", id);
        co_return;
    };
    co_return corral::json(note_json(id, store.notes[id]), 201)
        .add_background_task(std::move(index));
}

/// Each text message becomes a note; the answer is the note as JSON. Binary messages get
/// a close with 1003 (unsupported data).
asio::awaitable<void> notes_over_websocket(note_store& store, corral::websocket& ws) {
    while (auto message = co_await ws.receive()) {
        if (!message->is_text()) {
            co_await ws.close(corral::close_code::unsupported_data, "send text");
            co_return;
        }
        long id = store.next_id++;
        store.notes[id] = std::move(message->data);
        auto answer = boost::json::serialize(note_json(id, store.notes[id]));
        co_await ws.send_text(std::move(answer));
    }
}

asio::awaitable<response> get_note(note_store& store, request& req) {
    auto id = note_id(req);
    if (!id || !store.notes.count(*id)) co_return response::status_only(404);
    co_return corral::json(note_json(*id, store.notes[*id]));
}

asio::awaitable<response> delete_note(note_store& store, request& req) {
    auto id = note_id(req);
    if (!id || store.notes.erase(*id) == 0) co_return response::status_only(404);
    co_return response{204, {}, ""};
}

/// Word counts over all notes: CPU work done on the thread pool, on a copy of the data
/// (the pool must not touch the store while the loop changes it).
asio::awaitable<response> stats(note_store& store, request&) {
    auto count_words = [snapshot = store.notes] {
        std::map<std::string, long> words;
        for (const auto& [id, text] : snapshot) {
            std::istringstream stream(text);
            for (std::string word; stream >> word;) ++words[word];
        }
        return words;
    };
    auto counts = co_await corral::offload(std::move(count_words));
    boost::json::object out;
    for (const auto& [word, count] : counts) out[word] = count;
    co_return corral::json(out);
}

}  // namespace

corral::router make_routes(note_store& store) {
    // Each route binds the store; the handlers stay plain functions.
    auto with_store = [&store](auto handler) {
        return [&store, handler](request& req) { return handler(store, req); };
    };
    corral::router routes;
    routes.get("/notes", with_store(list_notes))
        .post("/notes", with_store(create_note))
        .get("/notes/{id}", with_store(get_note))
        .del("/notes/{id}", with_store(delete_note))
        .get("/stats", with_store(stats))
        .websocket("/notes/ws", [&store](request&, corral::websocket& ws) {
            return notes_over_websocket(store, ws);
        });
    return routes;
}

}  // namespace notes
