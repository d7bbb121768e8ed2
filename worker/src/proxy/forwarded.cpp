#include "proxy/forwarded.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include "http/field_text.hpp"

namespace corral {
namespace {

std::vector<std::string_view> split_list(std::string_view value, char separator) {
    std::vector<std::string_view> items;
    while (true) {
        auto at = value.find(separator);
        if (auto item = trim_whitespace(value.substr(0, at)); !item.empty()) items.push_back(item);
        if (at == std::string_view::npos) break;
        value.remove_prefix(at + 1);
    }
    return items;
}

/// A Forwarded `for=` node without quotes, brackets or port: "[2001:db8::1]:80" -> 2001:db8::1.
std::string node_address(std::string_view node) {
    if (node.size() >= 2 && node.front() == '"') node = node.substr(1, node.size() - 2);
    if (node.starts_with('[')) return std::string(node.substr(1, node.find(']') - 1));
    if (std::count(node.begin(), node.end(), ':') == 1) node = node.substr(0, node.find(':'));
    return std::string(node);
}

/// Forwarded: for=a;proto=https, for=b -> the values of `key`, in order.
std::vector<std::string> forwarded_values(std::string_view header, std::string_view key) {
    std::vector<std::string> values;
    for (auto element : split_list(header, ','))
        for (auto pair : split_list(element, ';')) {
            auto equals = pair.find('=');
            if (equals == std::string_view::npos) continue;
            if (lowercase(trim_whitespace(pair.substr(0, equals))) == key)
                values.push_back(std::string(trim_whitespace(pair.substr(equals + 1))));
        }
    return values;
}

std::string rightmost_untrusted(const std::vector<std::string>& chain,
                                const address_list& trusted) {
    for (auto it = chain.rbegin(); it != chain.rend(); ++it)
        if (!trusted.contains(*it)) return *it;
    return chain.front();
}

}  // namespace

forwarded_origin resolve_forwarded(const request::field_list& headers, std::string_view peer,
                                   bool peer_trusted, const address_list& trusted) {
    forwarded_origin origin{std::string(peer), "http", ""};
    if (!peer_trusted) return origin;
    std::vector<std::string> chain;
    std::set<std::string> schemes;
    for (const auto& [name, value] : headers) {
        if (iequals(name, "X-Forwarded-For")) {
            for (auto item : split_list(value, ',')) chain.push_back(node_address(item));
        } else if (iequals(name, "X-Forwarded-Proto")) {
            if (auto items = split_list(value, ','); !items.empty())
                schemes.insert(lowercase(items.front()));
        } else if (iequals(name, "X-Forwarded-Ssl")) {
            schemes.insert(lowercase(trim_whitespace(value)) == "on" ? "https" : "http");
        } else if (iequals(name, "Forwarded")) {
            if (auto protos = forwarded_values(value, "proto"); !protos.empty())
                schemes.insert(lowercase(protos.front()));
            if (!std::any_of(headers.begin(), headers.end(),
                             [](const auto& h) { return iequals(h.first, "X-Forwarded-For"); }))
                for (const auto& node : forwarded_values(value, "for"))
                    chain.push_back(node_address(node));
        }
    }
    if (schemes.size() > 1) origin.error = "the forwarding headers disagree on the scheme";
    if (schemes.size() == 1) origin.scheme = *schemes.begin();
    if (!chain.empty()) origin.client = rightmost_untrusted(chain, trusted);
    return origin;
}

}  // namespace corral
