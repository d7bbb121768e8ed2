// The notes app's tests: its routes called in process with corral::test_client, the way
// an app built on corral tests its handlers (no master, no sockets, no ports).

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "notes_app.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "corral/test_client.hpp"

namespace {

boost::json::value parse(const std::string& text) { return boost::json::parse(text); }

}  // namespace

TEST_CASE("notes are created, listed, read and deleted") {
    notes::note_store store;
    auto routes = notes::make_routes(store);
    corral::test_client client(routes);

    auto created = client.post("/notes", R"({"text":"buy milk"})");
    CHECK(created.status == 201);
    CHECK(parse(created.body) == parse(R"({"id":1,"text":"buy milk"})"));
    CHECK(store.indexed == 1);  // the background task ran after the response

    CHECK(parse(client.get("/notes").body) == parse(R"([{"id":1,"text":"buy milk"}])"));
    CHECK(parse(client.get("/notes/1").body) == parse(R"({"id":1,"text":"buy milk"})"));
    CHECK(client.del("/notes/1").status == 204);
    CHECK(client.get("/notes/1").status == 404);
    CHECK(client.del("/notes/1").status == 404);
}

TEST_CASE("a note without text is refused with 422") {
    notes::note_store store;
    auto routes = notes::make_routes(store);
    corral::test_client client(routes);
    CHECK(client.post("/notes", "not json").status == 422);
    CHECK(client.post("/notes", R"({"text":7})").status == 422);
    CHECK(store.notes.empty());
}

TEST_CASE("word counts are computed on the thread pool") {
    notes::note_store store;
    auto routes = notes::make_routes(store);
    corral::test_client client(routes);
    client.post("/notes", R"({"text":"milk and eggs"})");
    client.post("/notes", R"({"text":"more milk"})");
    auto stats = parse(client.get("/stats").body);
    CHECK(stats.at("milk") == 2);
    CHECK(stats.at("eggs") == 1);
}

TEST_CASE("notes arrive over a WebSocket") {
    notes::note_store store;
    auto routes = notes::make_routes(store);
    corral::test_client client(routes);
    auto ws = client.websocket("/notes/ws");
    ws.send_text("call mum");
    CHECK(parse(ws.receive().data) == parse(R"({"id":1,"text":"call mum"})"));
    ws.send_binary("\x01");
    CHECK_THROWS_AS(ws.receive(), corral::websocket_closed);
    CHECK(ws.server_close_code() == corral::close_code::unsupported_data);
    CHECK(store.notes.size() == 1);
}
