/* A game in C, written from docs/protocol.md alone: no vecbridge client, no JSON library.
 *
 * "Walk": a walker on a line from -5 to 5. Observation float32[2] = (position, steps
 * taken); action "int 0 2" = Discrete(3): 0 left, 1 stay, 2 right. Reward +1 on reaching
 * +5, -1 on reaching -5 (both end the episode); episodes are truncated after 50 steps.
 * The seed picks the start position in {-2..2}. It answers render with a null frame and
 * call with an error, and exits on close or end of file. Binary framing.
 *
 * It finds the fields it needs in the JSON header by scanning for their names, which
 * is enough for the messages vecbridge sends (section 4). Build: cc -O2 -o walk walk.c
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int sock = -1;

static void die(const char *what) {
    fprintf(stderr, "walk: %s\n", what);
    exit(2);
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff;
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void write_all(const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(sock, p, n, 0);
        if (k <= 0) die("send failed");
        p += k; n -= (size_t)k;
    }
}

static int read_all(unsigned char *p, size_t n) { /* 0 at end of file */
    while (n > 0) {
        ssize_t k = recv(sock, p, n, 0);
        if (k <= 0) return 0;
        p += k; n -= (size_t)k;
    }
    return 1;
}

/* One message: frame length, header length, header, then the raw array data. */
static void send_message(const char *header, const void *data, size_t data_len) {
    size_t h = strlen(header), payload = 4 + h + data_len;
    unsigned char *buf = malloc(4 + payload);
    if (!buf) die("out of memory");
    put_u32(buf, (uint32_t)payload);
    put_u32(buf + 4, (uint32_t)h);
    memcpy(buf + 8, header, h);
    if (data_len) memcpy(buf + 8 + h, data, data_len);
    write_all(buf, 4 + payload);
    free(buf);
}

/* The next message's header as a C string (the caller frees it), or NULL at end of file. */
static char *read_header(void) {
    unsigned char len[4];
    if (!read_all(len, 4)) return NULL;
    uint32_t n = get_u32(len);
    if (n < 4 || n > (1u << 26)) die("bad frame length");
    unsigned char *payload = malloc(n + 1);
    if (!payload || !read_all(payload, n)) die("truncated frame");
    uint32_t h = get_u32(payload);
    if (h > n - 4) die("bad header length");
    char *header = malloc(h + 1);
    memcpy(header, payload + 4, h);
    header[h] = 0;
    free(payload);
    return header;
}

/* The text right after "name": in the header (spaces skipped), or NULL. */
static const char *field(const char *header, const char *name) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\"", name);
    const char *p = strstr(header, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == ':') p++;
    return p;
}

static int is_type(const char *header, const char *type) {
    const char *p = field(header, "type");
    size_t n = strlen(type);
    return p && p[0] == '"' && strncmp(p + 1, type, n) == 0 && p[1 + n] == '"';
}

static float position, steps;

static void reply_observation(const char *head_fields) {
    float obs[2] = {position, steps};
    char header[512];
    snprintf(header, sizeof header,
             "{\"type\":%s,\"observation\":{\"$array\":0},\"info\":{},"
             "\"arrays\":[{\"dtype\":\"float32\",\"shape\":[2]}]}",
             head_fields);
    send_message(header, obs, sizeof obs); /* x86 and ARM are little-endian, as the wire is */
}

int main(void) {
    const char *host = getenv("VECBRIDGE_HOST"), *port = getenv("VECBRIDGE_PORT");
    const char *instance = getenv("VECBRIDGE_INSTANCE"), *token = getenv("VECBRIDGE_TOKEN");
    if (!port || !instance || !token) die("VECBRIDGE_PORT/INSTANCE/TOKEN are not set: launch me with vecbridge");

    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(port));
    if (inet_pton(AF_INET, host ? host : "127.0.0.1", &addr.sin_addr) != 1) die("bad VECBRIDGE_HOST");
    sock = socket(AF_INET, SOCK_STREAM, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) die("cannot connect");
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    char hello[512];
    snprintf(hello, sizeof hello,
             "{\"type\":\"hello\",\"version\":1,\"instance\":%d,\"token\":\"%s\",\"name\":\"Walk (C)\","
             "\"observation_space\":\"float -5 50 [2]\",\"action_space\":\"int 0 2\"}",
             atoi(instance), token);
    send_message(hello, NULL, 0);
    char *welcome = read_header();
    if (!welcome || !is_type(welcome, "welcome")) die("expected a welcome");
    free(welcome);

    char *msg;
    while ((msg = read_header()) != NULL) {
        if (is_type(msg, "close")) {
            free(msg);
            break;
        } else if (is_type(msg, "reset")) {
            const char *seed = field(msg, "seed");
            long s = (seed && *seed != 'n') ? strtol(seed, NULL, 10) : 0;
            position = (float)(((s % 5) + 5) % 5 - 2);
            steps = 0;
            reply_observation("\"reset_result\"");
        } else if (is_type(msg, "step")) {
            const char *action = field(msg, "action");
            long a = action ? strtol(action, NULL, 10) : 1;
            position += (float)(a - 1);
            steps += 1;
            const char *reward = "0.0", *terminated = "false", *truncated = "false";
            if (position >= 5) { reward = "1.0"; terminated = "true"; }
            else if (position <= -5) { reward = "-1.0"; terminated = "true"; }
            else if (steps >= 50) { truncated = "true"; }
            char head[256];
            snprintf(head, sizeof head, "\"step_result\",\"reward\":%s,\"terminated\":%s,\"truncated\":%s",
                     reward, terminated, truncated);
            reply_observation(head);
        } else if (is_type(msg, "render")) {
            send_message("{\"type\":\"render_result\",\"frame\":null}", NULL, 0);
        } else {
            send_message("{\"type\":\"error\",\"message\":\"walk (C) supports no calls\"}", NULL, 0);
        }
        free(msg);
    }
    close(sock);
    return 0;
}
