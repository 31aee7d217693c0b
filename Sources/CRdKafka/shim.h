// librdkafka client API plus its built-in Kafka-protocol cluster (Debian librdkafka-dev).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
