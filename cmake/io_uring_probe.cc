// Configure-time probe (EVENTFLOW_IO_URING=AUTO): exits 0 if this kernel lets
// the process set up an io_uring of the size Asio asks for and it offers
// every operation Asio's io_uring backend submits for sockets and timers.
#include <liburing.h>

int main() {
  // Asio 1.81's io_uring_service::ring_size (kernels before 5.12 count the
  // ring against RLIMIT_MEMLOCK, so a smaller ring could pass where Asio's
  // fails).
  constexpr unsigned kAsioRingSize = 16384;
  io_uring ring;
  if (io_uring_queue_init(kAsioRingSize, &ring, 0) < 0) return 1;
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  if (probe == nullptr) return 2;
  int missing = 0;
  for (int op : {IORING_OP_NOP, IORING_OP_POLL_ADD, IORING_OP_RECVMSG, IORING_OP_SENDMSG,
                 IORING_OP_TIMEOUT, IORING_OP_ASYNC_CANCEL, IORING_OP_ACCEPT, IORING_OP_CONNECT,
                 IORING_OP_READ, IORING_OP_WRITE}) {
    if (!io_uring_opcode_supported(probe, op)) ++missing;
  }
  io_uring_free_probe(probe);
  if (missing != 0) return 3;
  // One round trip through the ring.
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  io_uring_prep_nop(sqe);
  if (io_uring_submit(&ring) != 1) return 4;
  io_uring_cqe* cqe = nullptr;
  if (io_uring_wait_cqe(&ring, &cqe) < 0) return 5;
  io_uring_cqe_seen(&ring, cqe);
  io_uring_queue_exit(&ring);
  return 0;
}
