/* The tests' independent PGM peer: OpenPGM (Debian's libpgm) sending a file to a
 * group, or receiving one session's data into a file, over raw IP or UDP.
 *
 *   pgm_oracle send "IF;GROUP" PORT FILE [UDP_PORT] [RATE_BYTES]
 *   pgm_oracle recv "IF;GROUP" PORT FILE [UDP_PORT]
 *
 * With PGM_ORACLE_FEC=K/N/PROACTIVE/ONDEMAND in the environment, a sender uses
 * OpenPGM's FEC (PGM_USE_FEC: groups of K, a block of N, PROACTIVE parity packets a
 * group, on-demand parity when ONDEMAND is 1); a receiver follows the sender's
 * SPMs by itself.
 *
 * Exit status: 0 done; 1 set-up failed; 2 the session was reset (unrecoverable
 * loss) or ended badly; 3 no session within 30 s. Built by the tests and the
 * benchmark with gcc. A receiver prints, when done, the octets it received and
 * the CLOCK_MONOTONIC time of the last of them ("BYTES SECONDS").
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pgm/pgm.h>

/* Messages that fit one packet: Debian's libpgm 5.3.128 crashes in
 * pgm_compat_csum_partial_copy when pgm_send fragments a larger one. */
#define CHUNK 1024

static pgm_sock_t* open_socket(const char* network, int port, int udp_port, int sender,
                               int rate) {
    pgm_error_t* err = NULL;
    struct pgm_addrinfo_t* res = NULL;
    pgm_sock_t* sock = NULL;
    if (!pgm_getaddrinfo(network, NULL, &res, &err)) {
        fprintf(stderr, "network %s: %s\n", network, err->message);
        return NULL;
    }
    sa_family_t family = res->ai_send_addrs[0].gsr_group.ss_family;
    if (!pgm_socket(&sock, family, SOCK_SEQPACKET, udp_port ? IPPROTO_UDP : IPPROTO_PGM, &err)) {
        fprintf(stderr, "socket: %s\n", err->message);
        return NULL;
    }
    if (udp_port) {
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_UDP_ENCAP_UCAST_PORT, &udp_port, sizeof udp_port);
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_UDP_ENCAP_MCAST_PORT, &udp_port, sizeof udp_port);
    }
    const int off = 0, on = 1, mtu = 1500, hops = 1, nonblocking = 1;
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_IP_ROUTER_ALERT, &off, sizeof off);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_MTU, &mtu, sizeof mtu);
    /* Both ends take NAKs, NCFs and repairs in: every receive-side setting is needed. */
    const int sqns = 65536, expiry = pgm_secs(300), spmr = pgm_msecs(250);
    const int bo = pgm_msecs(50), rpt = pgm_msecs(200), rdata = pgm_msecs(200);
    const int data_retries = 50, ncf_retries = 50; /* as OpenPGM's own examples */
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_RXW_SQNS, &sqns, sizeof sqns);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_PEER_EXPIRY, &expiry, sizeof expiry);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_SPMR_EXPIRY, &spmr, sizeof spmr);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_NAK_BO_IVL, &bo, sizeof bo);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_NAK_RPT_IVL, &rpt, sizeof rpt);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_NAK_RDATA_IVL, &rdata, sizeof rdata);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_NAK_DATA_RETRIES, &data_retries, sizeof data_retries);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_NAK_NCF_RETRIES, &ncf_retries, sizeof ncf_retries);
    if (sender) {
        const int ambient = pgm_secs(8);
        const int heartbeat[] = {pgm_msecs(100), pgm_msecs(100), pgm_msecs(200),
                                 pgm_msecs(400), pgm_msecs(800), pgm_secs(2), pgm_secs(8)};
        /* OpenPGM 5.3.128 sizes its parity buffer from the window's TPDU size, which a
           window in sequence numbers leaves at 0 (the first parity NAK then aborts it in
           pgm_skb_over_panic): with FEC the window is in seconds. */
        const int secs = 30;
        if (getenv("PGM_ORACLE_FEC"))
            pgm_setsockopt(sock, IPPROTO_PGM, PGM_TXW_SECS, &secs, sizeof secs);
        else
            pgm_setsockopt(sock, IPPROTO_PGM, PGM_TXW_SQNS, &sqns, sizeof sqns);
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_TXW_MAX_RTE, &rate, sizeof rate);
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_AMBIENT_SPM, &ambient, sizeof ambient);
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_HEARTBEAT_SPM, heartbeat, sizeof heartbeat);
        const char* fec = getenv("PGM_ORACLE_FEC");
        unsigned k, n, proactive, ondemand;
        if (fec && sscanf(fec, "%u/%u/%u/%u", &k, &n, &proactive, &ondemand) == 4) {
            struct pgm_fecinfo_t info = {.block_size = n, .proactive_packets = proactive,
                                         .group_size = k, .ondemand_parity_enabled = ondemand,
                                         .var_pktlen_enabled = 1};
            if (!pgm_setsockopt(sock, IPPROTO_PGM, PGM_USE_FEC, &info, sizeof info)) {
                fprintf(stderr, "PGM_USE_FEC %s refused\n", fec);
                return NULL;
            }
        }
    } else {
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_RECV_ONLY, &on, sizeof on);
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_PASSIVE, &off, sizeof off);
    }
    struct pgm_sockaddr_t addr;
    memset(&addr, 0, sizeof addr);
    addr.sa_port = port;
    addr.sa_addr.sport = 0;
    if (!pgm_gsi_create_from_hostname(&addr.sa_addr.gsi, &err)) {
        fprintf(stderr, "gsi: %s\n", err->message);
        return NULL;
    }
    struct pgm_interface_req_t if_req;
    memset(&if_req, 0, sizeof if_req);
    if_req.ir_interface = res->ai_recv_addrs[0].gsr_interface;
    memcpy(&if_req.ir_address, &res->ai_send_addrs[0].gsr_addr, sizeof(struct sockaddr_storage));
    if (!pgm_bind3(sock, &addr, sizeof addr, &if_req, sizeof if_req, &if_req, sizeof if_req,
                   &err)) {
        fprintf(stderr, "bind: %s\n", err->message);
        return NULL;
    }
    for (unsigned i = 0; i < res->ai_recv_addrs_len; i++)
        pgm_setsockopt(sock, IPPROTO_PGM, PGM_JOIN_GROUP, &res->ai_recv_addrs[i],
                       sizeof(struct group_req));
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_SEND_GROUP, &res->ai_send_addrs[0],
                   sizeof(struct group_req));
    pgm_freeaddrinfo(res);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_MULTICAST_LOOP, &off, sizeof off);
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_MULTICAST_HOPS, &hops, sizeof hops);
    /* A sender blocks in pgm_send (OpenPGM's rate control refuses, without blocking, an
       APDU larger than its bucket); a receiver polls. */
    const int noblock = sender ? 0 : nonblocking;
    pgm_setsockopt(sock, IPPROTO_PGM, PGM_NOBLOCK, &noblock, sizeof noblock);
    if (!pgm_connect(sock, &err)) {
        fprintf(stderr, "connect: %s\n", err->message);
        return NULL;
    }
    return sock;
}

/* Wait until the socket may go on: its descriptors, or the time its timers need. */
static void wait_for(pgm_sock_t* sock, int status, short events) {
    struct pollfd fds[8];
    int n = 8, timeout = 100;
    memset(fds, 0, sizeof fds);
    if (status == PGM_IO_STATUS_TIMER_PENDING || status == PGM_IO_STATUS_RATE_LIMITED) {
        struct timeval tv;
        socklen_t len = sizeof tv;
        pgm_getsockopt(sock, IPPROTO_PGM,
                       status == PGM_IO_STATUS_RATE_LIMITED ? PGM_RATE_REMAIN : PGM_TIME_REMAIN,
                       &tv, &len);
        timeout = (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
        if (timeout > 200) /* a timer far off (peer expiry): look at the clock meanwhile */
            timeout = 200;
    }
    pgm_poll_info(sock, fds, &n, events);
    poll(fds, n, timeout);
}

/* A source answers NAKs only inside pgm_recv: a thread keeps calling it while the
   main thread sends (as OpenPGM's own examples do), and for a while after. */
static volatile int sending_done = 0;

static void* answer_naks(void* arg) {
    pgm_sock_t* sock = arg;
    while (!sending_done) {
        char scratch[64];
        size_t len;
        pgm_error_t* err = NULL;
        /* PGM_NOBLOCK cannot change once connected: each call says MSG_DONTWAIT. */
        int status = pgm_recv(sock, scratch, sizeof scratch, MSG_DONTWAIT, &len, &err);
        if (err)
            pgm_error_free(err);
        wait_for(sock, status, POLLIN);
    }
    return NULL;
}

static int do_send(pgm_sock_t* sock, const char* path) {
    FILE* in = fopen(path, "rb");
    if (!in) {
        perror(path);
        return 1;
    }
    pthread_t naks;
    pthread_create(&naks, NULL, answer_naks, sock);
    char buffer[CHUNK];
    size_t got;
    int result = 0;
    /* With FEC, messages of many lengths: each group's parity covers packets of
       different sizes (OPT_VAR_PKTLEN). */
    const int vary = getenv("PGM_ORACLE_FEC") != NULL;
    unsigned count = 0;
    while (!result &&
           (got = fread(buffer, 1, vary ? 100 + (count++ * 397) % (CHUNK - 100) : CHUNK,
                        in)) > 0) {
        for (;;) {
            int status = pgm_send(sock, buffer, got, NULL);
            if (status == PGM_IO_STATUS_NORMAL)
                break;
            if (status == PGM_IO_STATUS_ERROR) {
                fprintf(stderr, "send failed\n");
                result = 2;
                break;
            }
            wait_for(sock, status, POLLOUT);
        }
    }
    fclose(in);
    sleep(4); /* stay for repairs */
    sending_done = 1;
    pthread_join(naks, NULL);
    return result;
}

static double monotonic(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + now.tv_nsec / 1e9;
}

static int do_recv(pgm_sock_t* sock, const char* path) {
    FILE* out = fopen(path, "wb");
    if (!out) {
        perror(path);
        return 1;
    }
    static char buffer[65536];
    time_t started = time(NULL), last = 0;
    size_t total = 0;
    double last_data = 0;
    for (;;) {
        size_t len = 0;
        pgm_error_t* err = NULL;
        int status = pgm_recv(sock, buffer, sizeof buffer, 0, &len, &err);
        if (err) {
            fprintf(stderr, "recv: %s\n", err->message);
            pgm_error_free(err);
        }
        if (status == PGM_IO_STATUS_NORMAL) {
            fwrite(buffer, 1, len, out);
            total += len;
            last = time(NULL);
            last_data = monotonic();
            continue;
        }
        if (status == PGM_IO_STATUS_RESET) {
            fclose(out);
            return 2;
        }
        if (status == PGM_IO_STATUS_FIN || status == PGM_IO_STATUS_EOF) {
            break;
        }
        if (status == PGM_IO_STATUS_ERROR) {
            fclose(out);
            return 2;
        }
        if (!last && time(NULL) - started > 30) {
            fclose(out);
            return 3;
        }
        if (last && time(NULL) - last > 6) /* the data stopped: the sender is gone */
            break;
        wait_for(sock, status, POLLIN);
    }
    fclose(out);
    printf("%zu %.6f\n", total, last_data);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s send|recv \"IF;GROUP\" PORT FILE [UDP_PORT] [RATE]\n", argv[0]);
        return 1;
    }
    pgm_error_t* err = NULL;
    if (!pgm_init(&err)) {
        fprintf(stderr, "init: %s\n", err->message);
        return 1;
    }
    int sender = strcmp(argv[1], "send") == 0;
    int udp_port = argc > 5 ? atoi(argv[5]) : 0;
    int rate = argc > 6 ? atoi(argv[6]) : 10 * 1000 * 1000;
    pgm_sock_t* sock = open_socket(argv[2], atoi(argv[3]), udp_port, sender, rate);
    if (!sock)
        return 1;
    int status = sender ? do_send(sock, argv[4]) : do_recv(sock, argv[4]);
    pgm_close(sock, TRUE);
    pgm_shutdown();
    return status;
}
