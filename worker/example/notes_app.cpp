// example-app: a small notes API on the corral worker SDK, to copy as a start.
//
//   cmake --build build && build/bin/corral -w 2 -b 127.0.0.1:8000 -- build/bin/example-app
//   curl -d '{"text":"buy milk"}' localhost:8000/notes    -> 201 {"id":1,"text":"buy milk"}
//   curl localhost:8000/notes/1                            -> {"id":1,"text":"buy milk"}
//   curl localhost:8000/notes                              -> [{"id":1,...}]
//   curl -X DELETE localhost:8000/notes/1                  -> 204
//   curl localhost:8000/stats                              -> word counts, computed off the loop
//
// Each worker process has its own store: a real app keeps its data in a database that all
// workers share (open the pool in on_start, close it in on_stop).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <map>
#include <sstream>

#include "corral/json.hpp"
#include "corral/offload.hpp"
#include "corral/worker.hpp"
#include "shared/log.hpp"

namespace {

namespace asio = boost::asio;
using corral::request;
using corral::response;

/// The app's state: one per worker process, touched only on its event loop.
struct note_store {
    std::map<long, std::string> notes;
    long next_id = 1;
};
note_store store;

boost::json::object note_json(long id, const std::string& text) { return {{"id", id}, {"text", text}}; }

std::optional<long> note_id(const request& req) {
    try {
        return std::stol(std::string(*req.path_parameter("id")));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

asio::awaitable<response> list_notes(request&) {
    boost::json::array all;
    for (const auto& [id, text] : store.notes) all.push_back(note_json(id, text));
    co_return corral::json(all);
}

asio::awaitable<response> create_note(request& req) {
    boost::system::error_code ec;
    auto body = boost::json::parse(req.body, ec);
    const auto* text = !ec && body.is_object() ? body.as_object().if_contains("text") : nullptr;
    if (!text || !text->is_string())
        co_return response::text("send a JSON object with a \"text\" string\n", 422);
    long id = store.next_id++;
    store.notes[id] = text->as_string().c_str();
    co_return corral::json(note_json(id, store.notes[id]), 201);
}

asio::awaitable<response> get_note(request& req) {
    auto id = note_id(req);
    if (!id || !store.notes.count(*id)) co_return response::status_only(404);
    co_return corral::json(note_json(*id, store.notes[*id]));
}

asio::awaitable<response> delete_note(request& req) {
    auto id = note_id(req);
    if (!id || store.notes.erase(*id) == 0) co_return response::status_only(404);
    co_return response{204, {}, ""};
}

/// Word counts over all notes: CPU work done on the thread pool, on a copy of the data
/// (the pool must not touch the store while the loop changes it).
asio::awaitable<response> stats(request&) {
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

int main() {
    static const auto routes = corral::router{}
                                   .get("/notes", list_notes)
                                   .post("/notes", create_note)
                                   .get("/notes/{id}", get_note)
                                   .del("/notes/{id}", delete_note)
                                   .get("/stats", stats);
    return corral::run_worker(routes, {.on_start = [] { corral::log::info("Notes store open"); },
                                       .on_stop = [] { corral::log::info("Notes store closed"); }});
}
