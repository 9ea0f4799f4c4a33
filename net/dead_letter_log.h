// The fields every "event dead-lettered" warning carries, for both stages
// (consumer nacks in api_dlq.cc, the processor in api_processing.cc).
#pragma once

#include "engine/delivery_store.h"
#include "engine/engine.h"
#include "net/logging.h"

namespace eventflow {

// Adds stream_id, event_id, stage, group, offset, attempts and reason.
void AddDeadLetterFields(LogFields* f, const Stream& stream, const DlqEntry& entry);

}  // namespace eventflow
