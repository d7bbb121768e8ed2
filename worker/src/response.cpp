#include "corral/response.hpp"

namespace corral {

response response::text(std::string body, int status) {
    return response{status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
}

response response::json_text(std::string json, int status) {
    return response{status, {{"Content-Type", "application/json"}}, std::move(json)};
}

response response::status_only(int status) {
    return text(std::string(reason_phrase(status)) + "\n", status);
}

response response::streamed(body_producer producer, std::string content_type, int status) {
    response res{status, {{"Content-Type", std::move(content_type)}}, ""};
    res.stream = std::move(producer);
    return res;
}

response& response::header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 304: return "Not Modified";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

}  // namespace corral
