#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "dashboard/assets.h"

using vigil::dashboard::all_assets;
using vigil::dashboard::Asset;
using vigil::dashboard::find_asset;

TEST(DashboardAssets, IndexHtmlIsThereAsHtml) {
  const Asset* index = find_asset("/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<html"), std::string_view::npos);
  if (vigil::dashboard::built()) {
    // The Vite build references its hashed bundle, which is embedded too.
    auto at = index->body.find("/assets/index-");
    ASSERT_NE(at, std::string_view::npos);
    auto end = index->body.find('"', at);
    std::string script(index->body.substr(at, end - at));
    const Asset* bundle = find_asset(script);
    ASSERT_NE(bundle, nullptr) << script;
    EXPECT_TRUE(bundle->content_type.starts_with("text/javascript") || bundle->content_type.starts_with("text/css"));
    EXPECT_FALSE(bundle->body.empty());
  } else {
    EXPECT_NE(index->body.find("not built"), std::string_view::npos);
  }
}

TEST(DashboardAssets, SortedUniqueAndFindable) {
  auto assets = all_assets();
  ASSERT_FALSE(assets.empty());
  EXPECT_TRUE(std::ranges::is_sorted(assets, {}, &Asset::path));
  for (const Asset& asset : assets) {
    EXPECT_TRUE(asset.path.starts_with("/")) << asset.path;
    EXPECT_FALSE(asset.content_type.empty()) << asset.path;
    EXPECT_EQ(find_asset(asset.path), &asset);
  }
}

TEST(DashboardAssets, UnknownPathsAreNull) {
  EXPECT_EQ(find_asset("/no-such-file.js"), nullptr);
  EXPECT_EQ(find_asset(""), nullptr);
  EXPECT_EQ(find_asset("index.html"), nullptr);  // paths start with '/'
  EXPECT_EQ(find_asset("/index.htm"), nullptr);
}
