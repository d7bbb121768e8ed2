#include "master/metrics_endpoint.hpp"

#include <stdexcept>
#include <system_error>

#include "shared/bind_address.hpp"

namespace corral {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

[[noreturn]] void fail(const char* call, const std::string& text, boost::system::error_code ec) {
    throw std::system_error(ec.value(), std::generic_category(),
                            "metrics_bind: " + std::string(call) + " failed while binding " + text);
}

}  // namespace

tcp::endpoint resolve_metrics_bind(const std::string& text) {
    bind_address address;
    try {
        address = parse_host_port(text);
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error("metrics_bind: invalid address \"" + text + "\": " + e.what());
    }
    asio::io_context io;  // the resolver needs one; resolving blocks anyway
    tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto found = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (ec || found.empty())
        throw std::runtime_error("metrics_bind: cannot resolve host \"" + address.host +
                                 "\": " + (ec ? ec.message() : "no address"));
    return found.begin()->endpoint();
}

tcp::acceptor listen_on_metrics_bind(asio::io_context& io, const std::string& text) {
    auto endpoint = resolve_metrics_bind(text);
    tcp::acceptor acceptor(io);
    boost::system::error_code ec;
    if (acceptor.open(endpoint.protocol(), ec); ec) fail("socket()", text, ec);
    if (acceptor.set_option(tcp::acceptor::reuse_address(true), ec); ec)
        fail("setsockopt(SO_REUSEADDR)", text, ec);
    if (acceptor.bind(endpoint, ec); ec) fail("bind()", text, ec);
    if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec)
        fail("listen()", text, ec);
    return acceptor;
}

}  // namespace corral
