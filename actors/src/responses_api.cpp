#include "responses_api.hpp"

#include "replies.hpp"

namespace oag::actors::responses {

void handle(caf::event_based_actor*, responses_state&, const std::shared_ptr<const gateway_context>&,
            const std::string&, const caf::actor&, api_request& api) {
  detail::respond_failure(api.sink, make_failure(errc::not_found, "The Responses API is being wired in."));
}

} // namespace oag::actors::responses
