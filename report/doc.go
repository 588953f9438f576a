// Package report turns what cmo measured about a campaign into its KPIs and
// renders the campaign report as JSON, Markdown and HTML, with charts
// drawn here as SVG so that the page needs no script and no other server.
//
// It does no I/O: activities gather the measurements (the platforms'
// numbers, the follower counts, the tracked clicks, costs and conversions
// from the store) and call KPIs; the API renders a stored report.
//
// # KPI formulas
//
// Every number is over the campaign's published posts and the channels it
// published to, as last measured. Rates whose denominator is zero are 0
// (the rendered report shows "n/a"), so that a goal rule never divides by
// zero and a campaign with nothing to measure misses its rate goals.
//
//	posts                 number of published posts
//	impressions           Σ impressions of the posts, as the platforms count them
//	reach                 Σ reach of the posts; a post whose platform reports no
//	                      reach counts its impressions. Networks do not say who
//	                      saw two posts, so a person reached twice counts twice
//	likes, reposts,       Σ over the posts, as the platforms count them
//	replies, post_clicks
//	engagements           likes + reposts + replies + post_clicks
//	engagement_rate       engagements / impressions
//	clicks                clicks on the campaign's tracked links (GET /l/{code}) by
//	                      people: link-preview fetchers and bots are recorded
//	                      but not counted
//	ctr                   clicks / impressions
//	followers_start       Σ over the channels of the first follower count
//	                      measured for the campaign (at its start)
//	followers             Σ over the channels of the latest follower count
//	follower_growth       followers - followers_start; negative when the
//	                      channels lost followers
//	follower_growth_rate  follower_growth / followers_start
//	cost                  Σ costs recorded for the campaign, by cost steps in the
//	                      playbook and POST /v1/campaigns/{id}/costs
//	conversions, revenue  count and Σ value of the conversions recorded with
//	                      POST /v1/campaigns/{id}/conversions
//	conversion_rate       conversions / clicks
//	cost_per_click        cost / clicks
//	roi                   (revenue - cost) / cost; 0 when nothing was spent
//
// Worked example (see kpi_test.go): two posts with 1,000 and 3,000
// impressions, 40 and 90 likes, 5 and 15 reposts, 3 and 7 replies and 12
// and 28 post clicks make 200 engagements over 4,000 impressions, an
// engagement rate of 0.05; 80 tracked clicks give a CTR of 0.02; channels
// that went from 5,000 to 5,150 followers grew by 150, a rate of 0.03; a
// cost of 200 and 4 conversions worth 500 give a conversion rate of 0.05,
// 2.5 per click and an ROI of (500 - 200) / 200 = 1.5.
package report
