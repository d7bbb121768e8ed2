// corral-echo-worker: answers every request with what the worker parsed, as JSON. The HTTP
// conformance test compares that with the corpus's expectations.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "corral/json.hpp"
#include "corral/worker.hpp"

namespace {

unsigned octet(char c) { return static_cast<unsigned char>(c); }

std::string base64(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        unsigned v = octet(bytes[i]) << 16 | octet(bytes[i + 1]) << 8 | octet(bytes[i + 2]);
        for (int shift : {18, 12, 6, 0}) out += alphabet[(v >> shift) & 63];
    }
    if (std::size_t rest = bytes.size() - i; rest > 0) {
        unsigned v = octet(bytes[i]) << 16 | (rest == 2 ? octet(bytes[i + 1]) << 8 : 0u);
        out += alphabet[(v >> 18) & 63];
        out += alphabet[(v >> 12) & 63];
        out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

/// [["NAME", "value"], ...] with names upper-cased, as the corpus writes them.
boost::json::array field_array(const corral::request::field_list& fields) {
    boost::json::array out;
    for (const auto& [name, value] : fields) {
        std::string upper = name;
        for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        out.push_back(boost::json::array{boost::json::string(upper), boost::json::string(value)});
    }
    return out;
}

boost::asio::awaitable<corral::response> echo(corral::request& req) {
    co_return corral::json(
        boost::json::object{{"method", req.method},
                            {"uri", req.target},
                            {"version", boost::json::array{req.version / 10, req.version % 10}},
                            {"headers", field_array(req.headers)},
                            {"trailers", field_array(req.trailers)},
                            {"body", base64(req.body)}});
}

}  // namespace

int main() {
    static const auto routes = corral::router{}.fallback(echo);
    return corral::run_worker(routes);
}
