<?php
/**
 * The widget placeholders, the page context they take (product, cart, order), and the embed
 * script's tag. Every renderer goes through shopreco_widget_html(), which escapes each
 * attribute it prints.
 *
 * @package shopreco
 */

defined( 'ABSPATH' ) || exit;

const SHOPRECO_SCRIPT = 'shopreco-embed';
const SHOPRECO_CART_SCRIPT = 'shopreco-woocommerce';
// After a widget adds to the cart (embed.js's shopreco:added-to-cart event), the mini-cart
// (cart fragments), the classic cart page and the Cart and Mini-Cart blocks show it.
const SHOPRECO_CART_JS = <<<'JS'
document.addEventListener( 'shopreco:added-to-cart', function () {
	if ( window.jQuery ) {
		window.jQuery( document.body ).trigger( 'wc_fragment_refresh' );
		window.jQuery( document ).trigger( 'wc_update_cart' );
	}
	document.body.dispatchEvent( new CustomEvent( 'wc-blocks_added_to_cart', { bubbles: true, cancelable: true, detail: { preserveCartData: false } } ) );
} );
JS;
const SHOPRECO_PLACEMENTS = array( 'bundle', 'also_bought', 'cart', 'thank_you', 'home', 'trending', 'buy_again', 'recently_viewed', 'inspired_by_browsing' );

/**
 * A widget's placeholder (a div that embed.js fills) with the page's context where the
 * placement needs it, and the embed script enqueued; '' when shopreco is not connected, the
 * placement is unknown or the page lacks what it needs.
 *
 * @param string $placement One of SHOPRECO_PLACEMENTS.
 * @param array  $args      product_id, product_ids (int[]), customer_id, limit (1-12), heading.
 */
function shopreco_widget_html( $placement, $args = array() ) {
	if ( ! shopreco_is_connected() || ! in_array( $placement, SHOPRECO_PLACEMENTS, true ) ) {
		return '';
	}
	$args = shopreco_page_context( $placement, $args );
	if ( null === $args ) {
		return '';
	}
	$limit = absint( isset( $args['limit'] ) ? $args['limit'] : 4 );
	$attrs = array(
		'shopreco'      => $placement,
		'product-id'    => isset( $args['product_id'] ) ? (string) $args['product_id'] : '',
		'product-ids'   => isset( $args['product_ids'] ) ? implode( ',', array_unique( array_filter( array_map( 'absint', (array) $args['product_ids'] ) ) ) ) : '',
		'customer-id'   => isset( $args['customer_id'] ) ? (string) $args['customer_id'] : '',
		'product-title' => isset( $args['product_title'] ) ? (string) $args['product_title'] : '',
		'product-price' => isset( $args['product_price'] ) ? (string) $args['product_price'] : '',
		'limit'         => (string) ( $limit ? min( 12, $limit ) : 4 ),
		'heading'       => isset( $args['heading'] ) ? (string) $args['heading'] : '',
	);
	shopreco_enqueue_scripts();
	$html = '<div class="shopreco-widget"';
	foreach ( $attrs as $name => $value ) {
		if ( '' !== $value ) {
			$html .= ' data-' . $name . '="' . esc_attr( $value ) . '"';
		}
	}
	return $html . '></div>';
}

/**
 * The embed script (shopreco serves its current version: no version parameter) and the
 * cart refresh, both in the footer.
 */
function shopreco_enqueue_scripts() {
	wp_enqueue_script( SHOPRECO_SCRIPT, shopreco_settings()['url'] . '/widgets/v1/embed.js', array(), null, array( 'strategy' => 'async', 'in_footer' => true ) ); // phpcs:ignore WordPress.WP.EnqueuedResourceParameters.MissingVersion
	if ( ! wp_script_is( SHOPRECO_CART_SCRIPT, 'registered' ) ) {
		wp_register_script( SHOPRECO_CART_SCRIPT, false, array(), SHOPRECO_VERSION, array( 'in_footer' => true ) );
		wp_add_inline_script( SHOPRECO_CART_SCRIPT, SHOPRECO_CART_JS );
	}
	wp_enqueue_script( SHOPRECO_CART_SCRIPT );
}

/**
 * The arguments with what the placement takes from the page when they do not name it: the
 * product of a product page, the cart's products, the order of an order-received page; null
 * when the placement cannot show here.
 *
 * @param string $placement The placement.
 * @param array  $args      The arguments given.
 * @return array|null
 */
function shopreco_page_context( $placement, $args ) {
	$product = empty( $args['product_id'] ) ? shopreco_current_product() : null;
	if ( in_array( $placement, array( 'bundle', 'also_bought', 'recently_viewed', 'inspired_by_browsing' ), true ) && $product ) {
		$args['product_id'] = $product->get_id();
		if ( 'bundle' === $placement && $product->is_type( 'simple' ) ) {
			// The bundle's own row: only a simple product is added to the cart by its id.
			$args['product_title'] = $product->get_name();
			$price                 = function_exists( 'wc_get_price_to_display' ) ? wc_get_price_to_display( $product ) : $product->get_price();
			$args['product_price'] = is_numeric( $price ) ? wp_json_encode( (float) $price ) : ''; // a dot, whatever the locale.
		}
	}
	if ( in_array( $placement, array( 'bundle', 'also_bought' ), true ) && empty( $args['product_id'] ) ) {
		return null;
	}
	if ( 'cart' === $placement && empty( $args['product_ids'] ) ) {
		$args['product_ids'] = shopreco_cart_product_ids();
	}
	if ( 'thank_you' === $placement && empty( $args['product_ids'] ) ) {
		$order = shopreco_current_order();
		$args  = $order ? array_merge( $args, shopreco_order_context( $order ) ) : $args;
	}
	if ( 'buy_again' === $placement && ! is_user_logged_in() ) {
		return null; // it is the signed-in customer's (the script tag names them).
	}
	return $args;
}

/**
 * The product of a single product page, or null (elsewhere the global product may be the
 * last one of a product loop).
 *
 * @return WC_Product|null
 */
function shopreco_current_product() {
	global $product;
	if ( ! function_exists( 'is_product' ) || ! is_product() ) {
		return null;
	}
	if ( is_object( $product ) && method_exists( $product, 'get_id' ) ) {
		return $product;
	}
	$found = wc_get_product( get_the_ID() );
	return $found ? $found : null;
}

/**
 * The (parent) product ids in the cart.
 *
 * @return int[]
 */
function shopreco_cart_product_ids() {
	if ( ! function_exists( 'WC' ) || ! WC()->cart ) {
		return array();
	}
	$ids = array();
	foreach ( WC()->cart->get_cart() as $item ) {
		$ids[] = absint( isset( $item['product_id'] ) ? $item['product_id'] : 0 );
	}
	return array_values( array_unique( array_filter( $ids ) ) );
}

/**
 * The order's (parent) product ids and its customer (none for a guest).
 *
 * @param WC_Order $order The order.
 * @return array{product_ids: int[], customer_id: string}
 */
function shopreco_order_context( $order ) {
	$ids = array();
	foreach ( $order->get_items() as $item ) {
		$ids[] = method_exists( $item, 'get_product_id' ) ? absint( $item->get_product_id() ) : 0;
	}
	$customer = absint( $order->get_customer_id() );
	return array(
		'product_ids' => array_values( array_unique( array_filter( $ids ) ) ),
		'customer_id' => $customer ? (string) $customer : '',
	);
}

/**
 * The order of an order-received page whose key the visitor holds, or null.
 *
 * @return WC_Order|null
 */
function shopreco_current_order() {
	if ( ! function_exists( 'is_order_received_page' ) || ! is_order_received_page() ) {
		return null;
	}
	$order = wc_get_order( absint( get_query_var( 'order-received' ) ) );
	$key   = isset( $_GET['key'] ) ? sanitize_text_field( wp_unslash( $_GET['key'] ) ) : ''; // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- WooCommerce's own order link.
	return ( $order && '' !== $key && hash_equals( (string) $order->get_order_key(), $key ) ) ? $order : null;
}

/**
 * The embed script's data attributes (script_loader_tag): the widget key, the platform, the
 * signed-in customer, the site's locale and the store's currency.
 *
 * @param string $tag    The script tag WordPress built.
 * @param string $handle The script's handle.
 */
function shopreco_script_tag( $tag, $handle ) {
	if ( SHOPRECO_SCRIPT !== $handle ) {
		return $tag;
	}
	$data  = array(
		'key'         => shopreco_settings()['widget_key'],
		'platform'    => 'woocommerce',
		'customer-id' => is_user_logged_in() ? (string) get_current_user_id() : '',
		'locale'      => str_replace( '_', '-', get_locale() ),
		'currency'    => function_exists( 'get_woocommerce_currency' ) ? get_woocommerce_currency() : '',
	);
	$attrs = '';
	foreach ( $data as $name => $value ) {
		if ( '' !== $value ) {
			$attrs .= ' data-' . $name . '="' . esc_attr( $value ) . '"';
		}
	}
	$at = strpos( $tag, ' src=' );
	return false === $at ? $tag : substr_replace( $tag, $attrs, $at, 0 );
}
