#include "master/round_robin_router.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace corral {
namespace {

bpf_insn instruction(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
                     std::int32_t imm) {
    bpf_insn insn{};
    insn.code = code;
    insn.dst_reg = dst & 0xf;
    insn.src_reg = src & 0xf;
    insn.off = off;
    insn.imm = imm;
    return insn;
}

/// r0 = shard; exit.
void return_shard(std::vector<bpf_insn>& program, int shard) {
    program.push_back(instruction(BPF_ALU | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, shard));
    program.push_back(instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

long bpf(int command, bpf_attr& attributes) {
    return ::syscall(SYS_bpf, command, &attributes, sizeof attributes);
}

std::string failed(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

std::vector<bpf_insn> round_robin_program(int counter_fd, const std::vector<int>& routable) {
    constexpr std::int32_t no_such_shard = -1;  // 0xffffffff: the kernel's own hash
    auto n = static_cast<std::int32_t>(routable.size());
    std::vector<bpf_insn> program{
        // key = 0 on the stack; r0 = lookup(counter, &key)
        instruction(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0),
        instruction(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, counter_fd),
        instruction(0, 0, 0, 0, 0),  // the upper half of the 64-bit immediate
        instruction(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),
        instruction(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
        instruction(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
        instruction(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 2, 0),
    };
    return_shard(program, no_such_shard);
    // r1 = 1; r1 = fetch_add(*r0, r1); r1 %= n
    program.push_back(instruction(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1));
    program.push_back(
        instruction(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD | BPF_FETCH));
    program.push_back(instruction(BPF_ALU64 | BPF_MOD | BPF_K, BPF_REG_1, 0, 0, n));
    // if (r1 != i) skip; return routable[i]   ...   return routable[n - 1]
    for (std::int32_t i = 0; i + 1 < n; ++i) {
        program.push_back(instruction(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_1, 0, 2, i));
        return_shard(program, routable[static_cast<std::size_t>(i)]);
    }
    return_shard(program, routable.back());
    return program;
}

round_robin_router::~round_robin_router() {
    if (counter_fd_ >= 0) ::close(counter_fd_);
}

std::string round_robin_router::attach(int socket_fd, const std::vector<int>& routable) {
    if (counter_fd_ < 0) {
        bpf_attr map{};
        map.map_type = BPF_MAP_TYPE_ARRAY;
        map.key_size = sizeof(std::uint32_t);
        map.value_size = sizeof(std::uint64_t);
        map.max_entries = 1;
        map.map_flags = 0;
        counter_fd_ = static_cast<int>(bpf(BPF_MAP_CREATE, map));
        if (counter_fd_ < 0) return failed("bpf(BPF_MAP_CREATE)");
        ::fcntl(counter_fd_, F_SETFD, FD_CLOEXEC);
    }
    auto program = round_robin_program(counter_fd_, routable);
    static const char license[] = "Dual MIT/GPL";
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    load.insns = reinterpret_cast<std::uint64_t>(program.data());
    load.insn_cnt = static_cast<std::uint32_t>(program.size());
    load.license = reinterpret_cast<std::uint64_t>(license);
    int program_fd = static_cast<int>(bpf(BPF_PROG_LOAD, load));
    if (program_fd < 0) return failed("bpf(BPF_PROG_LOAD)");
    int attached = ::setsockopt(socket_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &program_fd,
                                sizeof program_fd);
    std::string problem = attached == 0 ? "" : failed("setsockopt(SO_ATTACH_REUSEPORT_EBPF)");
    int error = errno;
    ::close(program_fd);  // the group holds the program now
    errno = error;
    return problem;
}

}  // namespace corral
