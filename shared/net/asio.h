#pragma once
// The one way fedge includes Boost.Asio (1.74 / Asio 1.18) with C++20 coroutines.
// <utility> must come first: 1.74's awaitable.hpp uses std::exchange without including it.
#include <utility>

#ifndef BOOST_ASIO_HAS_CO_AWAIT
#define BOOST_ASIO_HAS_CO_AWAIT 1
#endif
#ifndef BOOST_ASIO_HAS_STD_COROUTINE
#define BOOST_ASIO_HAS_STD_COROUTINE 1
#endif

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace fedge::net {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::asio::awaitable;
using boost::asio::use_awaitable;
using error_code = boost::system::error_code;
using TlsStream = ssl::stream<tcp::socket>;
using boost::asio::any_io_executor;

}  // namespace fedge::net
