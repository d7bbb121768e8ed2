#include "process/signal_reader.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace corral {

signal_reader::signal_reader(boost::asio::io_context& io, std::initializer_list<int> signals)
    : descriptor_(io) {
    sigset_t set;
    ::sigemptyset(&set);
    for (int signal_number : signals) ::sigaddset(&set, signal_number);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0)
        throw std::system_error(errno, std::generic_category(), "sigprocmask() failed");
    int fd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "signalfd() failed");
    descriptor_.assign(fd);
}

void signal_reader::start(handler on_signal) {
    on_signal_ = std::move(on_signal);
    do_read();
}

void signal_reader::do_read() {
    descriptor_.async_wait(
        boost::asio::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
            if (ec) return;
            signalfd_siginfo info;
            while (::read(descriptor_.native_handle(), &info, sizeof info) == sizeof info)
                on_signal_(static_cast<int>(info.ssi_signo),
                           info.ssi_code == SI_QUEUE ? info.ssi_int : 0);
            do_read();
        });
}

}  // namespace corral
